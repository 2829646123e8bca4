"""Create the system's topics before the services start: `python -m deploy.topics`.

The topics and their dead-letter topics, with `KAFKA_PARTITIONS` partitions, `KAFKA_REPLICATION_FACTOR` replicas
and, from three replicas, `min.insync.replicas` one below that; topics that exist are left as they are. The
services create missing topics the same way at start-up; this command lets a platform run it first (the Kubernetes
manifests run it as an init container, compose as a one-shot service). Waits for the broker like a service does.
"""

from __future__ import annotations

import asyncio
import sys

from shared.runtime import StartupError, retry_startup
from shared.settings import Settings
from shared.topics import ensure_topics, physical_names


async def create(settings: Settings) -> list[str]:
    return await retry_startup(f"broker at {settings.kafka_bootstrap_servers}", settings, lambda: ensure_topics(settings))


def main() -> int:
    settings = Settings()
    try:
        created = asyncio.run(create(settings))
    except StartupError as exc:
        print(f"topics: {exc}", file=sys.stderr)
        return 1
    for name in physical_names(settings):
        print(f"{name}: {'created' if name in created else 'exists'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
