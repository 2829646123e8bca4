"""`python -m services.eligibility` serves; `rebuild` recounts every authority and announces differences."""

from __future__ import annotations

import sys

from asyncpg import Pool

from services.eligibility.app import MIGRATIONS, SERVICE, build
from services.eligibility.handlers import rebuild
from shared.runtime import run_command, run_service
from shared.settings import Settings


async def _rebuild(pool: Pool, settings: Settings) -> int:
    crossings = await rebuild(pool, settings)
    print(f"rebuild: {len(crossings)} threshold event(s) written to the outbox")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] == "serve":
        return run_service(SERVICE, MIGRATIONS, build)
    if argv[0] == "rebuild":
        return run_command(SERVICE, MIGRATIONS, _rebuild)
    print(f"usage: python -m services.eligibility [serve|rebuild]  (unknown command {argv[0]!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
