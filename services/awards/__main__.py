"""`python -m services.awards` serves; `reviewer add NAME | list | revoke NAME` manages reviewers."""

from __future__ import annotations

import sys

from asyncpg import Pool

from services.awards import repository
from services.awards.app import MIGRATIONS, SERVICE, build
from services.awards.auth import new_token, token_hash
from shared.runtime import run_command, run_service
from shared.settings import Settings

USAGE = "usage: python -m services.awards [serve | reviewer add NAME | reviewer list | reviewer revoke NAME]"


def reviewer_command(args: list[str]):  # noqa: ANN201
    async def job(pool: Pool, _: Settings) -> int:
        if args[:1] == ["add"] and len(args) == 2 and args[1].strip():
            token = new_token()
            if not await repository.add_reviewer(pool, args[1].strip(), token_hash(token)):
                print(f"awards: reviewer {args[1]!r} exists already", file=sys.stderr)
                return 1
            print(token)
            return 0
        if args == ["list"]:
            for r in await repository.reviewers(pool):
                state = f"revoked {r['revoked_at']:%Y-%m-%d}" if r["revoked_at"] else "active"
                print(f"{r['name']}\t{state}\tadded {r['created_at']:%Y-%m-%d}")
            return 0
        if args[:1] == ["revoke"] and len(args) == 2:
            if not await repository.revoke_reviewer(pool, args[1]):
                print(f"awards: no active reviewer {args[1]!r}", file=sys.stderr)
                return 1
            print(f"revoked {args[1]}")
            return 0
        print(USAGE, file=sys.stderr)
        return 2

    return job


def main(argv: list[str]) -> int:
    if not argv or argv[0] == "serve":
        return run_service(SERVICE, MIGRATIONS, build)
    if argv[0] == "reviewer":
        return run_command(SERVICE, MIGRATIONS, reviewer_command(argv[1:]))
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
