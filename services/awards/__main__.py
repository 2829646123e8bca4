"""`python -m services.awards` serves its HTTP API and Kafka consumers."""

from __future__ import annotations

import sys

from services.awards.app import MIGRATIONS, SERVICE, build
from shared.runtime import run_service


def main(argv: list[str]) -> int:
    if not argv or argv[0] == "serve":
        return run_service(SERVICE, MIGRATIONS, build)
    print(f"usage: python -m services.awards [serve]  (unknown command {argv[0]!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
