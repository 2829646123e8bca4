"""Dead-letter topics: `python -m deploy.dlq [TOPIC] [--limit N]` shows what reached them (default: all three);
`python -m deploy.dlq redrive TOPIC [--since ISO]` publishes them again to their source topic once the cause is
fixed (the consumers are idempotent, so a message re-driven twice changes nothing the second time)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from shared.settings import Settings
from shared.topics import ALL_TOPICS, dlq


async def show(settings: Settings, topics: list[str], limit: int) -> int:
    shown = 0
    for topic in topics:
        async with contextlib.aclosing(dead_letters(settings, topic)) as letters:
            async for r in letters:
                if shown >= limit:
                    break
                headers = {k: v.decode(errors="replace") for k, v in r.headers}
                print(f"{r.topic}[{r.partition}]@{r.offset} key={(r.key or b'').decode(errors='replace')}")
                for k in sorted(h for h in headers if h.startswith("dlq_")):
                    print(f"  {k}: {headers[k]}")
                print(f"  value: {(r.value or b'')[:500]!r}")
                shown += 1
    if not shown:
        print("dlq: no dead letters (the topics are empty or do not exist)")
    print(f"dlq: {shown} dead letter(s) shown")
    return 0


async def dead_letters(settings: Settings, topic: str, *, quiet_ms: int = 1_000) -> AsyncIterator[ConsumerRecord]:
    """Every record of one dead-letter topic, from its beginning until a fetch of `quiet_ms` brings nothing more.

    Not "until the end offsets": some brokers (Tansu) report the start of the last record batch + 1 as a log's end.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_list, enable_auto_commit=False)
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            return
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while batch := await consumer.getmany(timeout_ms=quiet_ms):
            for records in batch.values():
                for r in records:
                    yield r
    finally:
        await consumer.stop()


def dead_at(record: ConsumerRecord) -> datetime | None:
    headers = {k: v.decode(errors="replace") for k, v in record.headers}
    try:
        return datetime.fromisoformat(headers["dlq_at"])
    except (KeyError, ValueError):
        return None


async def redrive(settings: Settings, topic: str, since: datetime | None) -> int:
    """Publish each dead letter (dead at or after `since`) to its source topic, without its `dlq_*` headers."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_list, acks="all", enable_idempotence=False)
    await producer.start()
    sent = skipped = 0
    try:
        async for r in dead_letters(settings, topic):  # read to its end: nothing to close early
            headers = dict(r.headers)
            source = headers.get("dlq_source_topic", b"").decode()
            at = dead_at(r)
            if not source or (since is not None and (at is None or at < since)):
                skipped += 1
                continue
            await producer.send_and_wait(
                source, value=r.value, key=r.key, headers=[(k, v) for k, v in r.headers if not k.startswith("dlq_")]
            )
            sent += 1
    finally:
        await producer.stop()
    print(f"dlq: {sent} dead letter(s) of {topic} re-driven to their source topic, {skipped} skipped")
    return sent


def main(argv: list[str]) -> int:
    settings = Settings()
    if argv[:1] == ["redrive"]:
        parser = argparse.ArgumentParser(prog="python -m deploy.dlq redrive")
        parser.add_argument("topic", help="the .dlq topic, e.g. eligibility.thresholds.v1.dlq")
        parser.add_argument("--since", type=datetime.fromisoformat, help="only letters dead at or after (ISO time)")
        args = parser.parse_args(argv[1:])
        if args.since is not None and args.since.tzinfo is None:
            parser.error("--since needs a time zone, e.g. 2026-11-27T10:00:00+01:00")
        asyncio.run(redrive(settings, args.topic, args.since))
        return 0
    parser = argparse.ArgumentParser(prog="python -m deploy.dlq", epilog="python -m deploy.dlq redrive TOPIC [--since ISO]")
    parser.add_argument("topic", nargs="?", help="a .dlq topic; default: every dead-letter topic")
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args(argv)
    topics = [args.topic] if args.topic else [dlq(settings.topic(t.name)) for t in ALL_TOPICS]
    return asyncio.run(show(settings, topics, args.limit))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
