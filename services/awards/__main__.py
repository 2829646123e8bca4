"""`python -m services.awards` serves; `reviewer add NAME [--lead] | list | revoke NAME` manages reviewers;
`holders import FILE.csv` imports existing holders."""

from __future__ import annotations

import gc

gc.disable()  # until start-up has frozen what it allocated (shared.runtime._settle_gc)

import sys
from datetime import UTC, datetime
from pathlib import Path

from asyncpg import Pool

from services.awards import domain, handlers, holders, repository
from services.awards.app import AWARDS
from services.awards.auth import new_token, token_hash
from shared.authorities import registry
from shared.settings import Settings

USAGE = "[serve | reviewer add NAME [--lead] | reviewer list | reviewer revoke NAME | holders import FILE.csv]"


def reviewer_command(args: list[str]):  # noqa: ANN201
    async def job(pool: Pool, _: Settings) -> int:
        lead = "--lead" in args
        words = [a for a in args if a != "--lead"]
        if words[:1] == ["add"] and len(words) == 2 and words[1].strip():
            token = new_token()
            if not await repository.add_reviewer(pool, words[1].strip(), token_hash(token), lead=lead):
                print(f"awards: reviewer {words[1]!r} exists already", file=sys.stderr)
                return 1
            print(token)
            return 0
        if words == ["list"]:
            for r in await repository.reviewers(pool):
                state = f"revoked {r['revoked_at']:%Y-%m-%d}" if r["revoked_at"] else "active"
                print(f"{r['name']}\t{state}\t{'lead' if r['lead'] else 'reviewer'}\tadded {r['created_at']:%Y-%m-%d}")
            return 0
        if words[:1] == ["revoke"] and len(words) == 2:
            released = await handlers.revoke_reviewer(pool, words[1])
            if released is None:
                print(f"awards: no active reviewer {words[1]!r}", file=sys.stderr)
                return 1
            print(f"revoked {words[1]}; {len(released)} claimed case(s) back in the queue")
            return 0
        print(f"usage: python -m services.awards {USAGE}", file=sys.stderr)
        return 2

    return job


def holders_command(args: list[str]):  # noqa: ANN201
    async def job(pool: Pool, _: Settings) -> int:
        if len(args) != 2 or args[0] != "import":
            print(f"usage: python -m services.awards {USAGE}", file=sys.stderr)
            return 2
        try:
            text = Path(args[1]).read_text(encoding="utf-8-sig")
        except OSError as exc:
            print(f"awards: cannot read {args[1]}: {exc.strerror}", file=sys.stderr)
            return 1
        found, errors = holders.parse(text, registry(), domain.berlin_day(datetime.now(UTC)))
        if not errors:
            new, errors = await holders.store(pool, found)
        if errors:
            print(f"awards: {args[1]} not imported ({len(errors)} error(s)):", file=sys.stderr)
            for e in errors:
                print(f"  {e}", file=sys.stderr)
            return 1
        print(f"holders: {new} imported, {len(found) - new} already known")
        return 0

    return job


def main(argv: list[str]) -> int:
    return AWARDS.main(argv, {
        "reviewer": lambda args: AWARDS.command(reviewer_command(args)),
        "holders": lambda args: AWARDS.command(holders_command(args)),
    }, USAGE)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
