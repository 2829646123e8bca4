"""Show what reached a dead-letter topic: `python -m deploy.dlq [TOPIC] [--limit N]` (default: all three)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.settings import Settings
from shared.topics import ALL_TOPICS, dlq


async def show(settings: Settings, topics: list[str], limit: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_list, enable_auto_commit=False)
    await consumer.start()
    shown = 0
    try:
        available = await consumer.topics()
        partitions = [
            TopicPartition(t, p) for t in topics if t in available for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        if not partitions:
            print("dlq: no dead letters (the topics are empty or do not exist)")
            return 0
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while shown < limit and await behind():
            for records in (await consumer.getmany(timeout_ms=1_000)).values():
                for r in records:
                    headers = {k: v.decode(errors="replace") for k, v in r.headers}
                    print(f"{r.topic}[{r.partition}]@{r.offset} key={(r.key or b'').decode(errors='replace')}")
                    for k in sorted(h for h in headers if h.startswith("dlq_")):
                        print(f"  {k}: {headers[k]}")
                    print(f"  value: {(r.value or b'')[:500]!r}")
                    shown += 1
    finally:
        await consumer.stop()
    print(f"dlq: {shown} dead letter(s) shown")
    return 0


def main(argv: list[str]) -> int:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m deploy.dlq")
    parser.add_argument("topic", nargs="?", help="a .dlq topic; default: every dead-letter topic")
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args(argv)
    topics = [args.topic] if args.topic else [dlq(settings.topic(t.name)) for t in ALL_TOPICS]
    return asyncio.run(show(settings, topics, args.limit))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
