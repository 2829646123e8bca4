"""What the system has accepted but not yet passed on: `python -m deploy.drain [--wait SECONDS]`.

Per service the outbox rows its relay has not published, and per topic and consumer group the records the
producer's relay published (its `relay_position`, exact) that the group has not committed yet. Zero everywhere
means every event accepted so far has been applied by its consumers. `make run` waits for this (a few seconds at
most) before it stops the services on Ctrl-C; tests and `make faults` use it instead of sleeping.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared import db, outbox
from shared.settings import SERVICES, Settings
from shared.topics import ALL_TOPICS

_POSITIONS = "SELECT topic, partition, next_offset FROM relay_position WHERE topic = ANY($1::text[])"


async def outstanding(settings: Settings) -> dict[str, int]:
    """`{"<service> outbox": rows, "<consumer> <- <topic>": records}`, only where something is outstanding."""
    out: dict[str, int] = {}
    positions: dict[str, list[tuple[int, int]]] = {}
    for service in SERVICES:
        conn = await db.connect(settings.database_url, service)
        try:
            if pending := await conn.fetchval(outbox.PENDING_COUNT):
                out[f"{service} outbox"] = pending
            own = [t.name for t in ALL_TOPICS if t.producer == service]
            for r in await conn.fetch(_POSITIONS, own):
                positions.setdefault(r["topic"], []).append((r["partition"], r["next_offset"]))
        finally:
            await conn.close()
    for spec in ALL_TOPICS:
        for consumer in spec.consumers:
            if behind := await _behind(settings, settings.group_id(consumer), spec.name, positions.get(spec.name, [])):
                out[f"{consumer} <- {spec.name}"] = behind
    return out


async def _behind(settings: Settings, group: str, topic: str, ends: list[tuple[int, int]]) -> int:
    """Records up to `ends` (partition, next offset) that `group` has not committed. A consumer that only reads the
    group's committed offsets (it never joins; the admin API's offset fetch is not understood by every broker)."""
    if not ends:
        return 0
    reader = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_list, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        physical = settings.topic(topic)
        return sum([max(0, end - (await reader.committed(TopicPartition(physical, p)) or 0)) for p, end in ends])
    finally:
        await reader.stop()


async def wait_drained(settings: Settings, timeout: float, interval: float = 0.2) -> dict[str, int]:
    """Poll until nothing is outstanding or `timeout` passes; returns what is still outstanding (empty: drained)."""
    deadline = time.monotonic() + timeout
    while True:
        left = await outstanding(settings)
        if not left or time.monotonic() >= deadline:
            return left
        await asyncio.sleep(interval)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.drain")
    parser.add_argument("--wait", type=float, default=0.0, help="wait up to this many seconds for zero")
    args = parser.parse_args(argv)
    left = asyncio.run(wait_drained(Settings(), args.wait))
    for what, n in left.items():
        print(f"{what}: {n}")
    print("drained" if not left else "not drained")
    return 0 if not left else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
