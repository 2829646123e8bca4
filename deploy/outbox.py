"""Publish a service's outbox again: `python -m deploy.outbox republish SERVICE [--since ISO]`.

For a broker that lost its log in a way the relays cannot see (they notice a log shorter than what they
published, a topic that is gone, or another cluster id): every retained event the service wrote at or after
`--since` is queued again, and the running service's relay publishes it in the original order. Consumers drop
what they have already applied (by event id or by state), so republishing too much is harmless (a relay that
takes the lead meanwhile leaves out what it finds on the log already). Rows older than
RETENTION_DAYS are gone. `python -m deploy.outbox status` shows what each service has not yet published.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

from shared import db, outbox
from shared.settings import SERVICES, Settings

_STATUS = """
SELECT (SELECT count(*) FROM outbox_pending) AS pending, count(*) AS retained, min(created_at) AS oldest
FROM outbox
"""


async def republish(settings: Settings, service: str, since: datetime | None) -> dict[str, int]:
    conn = await db.connect(settings.database_url, service)
    try:
        return await outbox.requeue(conn, await outbox.outbox_topics(conn), since)
    finally:
        await conn.close()


async def status(settings: Settings) -> None:
    for service in SERVICES:
        conn = await db.connect(settings.database_url, service)
        try:
            row = await conn.fetchrow(_STATUS)
        finally:
            await conn.close()
        oldest = f"{row['oldest']:%Y-%m-%d %H:%M}" if row["oldest"] else "-"
        print(f"{service:12} {row['pending']:>8} pending  {row['retained']:>9} retained  oldest {oldest}")


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-11-27T10:00:00+01:00")
    return value


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.outbox")
    commands = parser.add_subparsers(dest="command", required=True)
    again = commands.add_parser("republish", help="queue a service's retained events again for its relay")
    again.add_argument("service", choices=SERVICES)
    again.add_argument("--since", type=_aware, help="only events written at or after this time (ISO, with zone)")
    commands.add_parser("status", help="unpublished and retained events per service")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "status":
        asyncio.run(status(settings))
        return 0
    counts = asyncio.run(republish(settings, args.service, args.since))
    total = sum(counts.values())
    detail = ", ".join(f"{t}: {n}" for t, n in sorted(counts.items())) or "nothing retained"
    print(f"outbox: {total} event(s) of {args.service} queued again ({detail}); its running relay publishes them")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
