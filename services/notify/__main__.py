"""`python -m services.notify` serves; `contacts import FILE.csv` upserts authorities' email addresses."""

from __future__ import annotations

import gc

gc.disable()  # until start-up has frozen what it allocated (shared.runtime._settle_gc)

import sys
from pathlib import Path

from asyncpg import Pool

from services.notify import repository
from services.notify.app import NOTIFY
from services.notify.contacts import parse_contacts
from shared.authorities import registry
from shared.settings import Settings

USAGE = "[serve | contacts import FILE.csv]"


def import_contacts(path: Path):  # noqa: ANN201
    async def job(pool: Pool, _: Settings) -> int:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"notify: cannot read {path}: {exc}", file=sys.stderr)
            return 1
        contacts, errors = parse_contacts(text, registry())
        if errors:
            for error in errors:
                print(f"notify: {path}: {error}", file=sys.stderr)
            print(f"notify: nothing imported ({len(errors)} error(s))", file=sys.stderr)
            return 1
        async with pool.acquire() as conn, conn.transaction():
            await repository.upsert_contacts(conn, contacts)
            await repository.wake_mailer(conn)
        print(f"contacts: {len(contacts)} imported")
        return 0

    return job


def contacts_command(args: list[str]) -> int:
    if args[:1] != ["import"] or len(args) != 2:
        print(f"usage: python -m services.notify {USAGE}", file=sys.stderr)
        return 2
    return NOTIFY.command(import_contacts(Path(args[1])))


def main(argv: list[str]) -> int:
    return NOTIFY.main(argv, {"contacts": contacts_command}, USAGE)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
