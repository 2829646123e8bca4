"""`python -m services.eligibility` serves; `rebuild` recounts every authority and announces differences."""

from __future__ import annotations

import gc

gc.disable()  # until start-up has frozen what it allocated (shared.runtime._settle_gc)

import sys

from asyncpg import Pool

from services.eligibility.app import ELIGIBILITY
from services.eligibility.handlers import rebuild
from shared.settings import Settings


async def _rebuild(pool: Pool, settings: Settings) -> int:
    crossings = await rebuild(pool, settings)
    print(f"rebuild: {len(crossings)} threshold event(s) written to the outbox")
    return 0


def main(argv: list[str]) -> int:
    return ELIGIBILITY.main(argv, {"rebuild": lambda _: ELIGIBILITY.command(_rebuild)}, "[serve | rebuild]")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
