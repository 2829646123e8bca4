"""Reading and writing topics directly in tests, without consumer groups."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from shared.settings import Settings


async def read_topic(
    settings: Settings, topic: str, *, at_least: int = 1, timeout: float = 20.0, settle: float = 0.0
) -> list[ConsumerRecord]:
    """Every record of a (logical) topic from the beginning, once at least `at_least` are there.

    With `settle`, keep reading that long after reaching `at_least`, to see records that should not be there.
    """
    name = settings.topic(topic) if not topic.startswith(settings.kafka_topic_prefix) else topic
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_list, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] | None = None
        while not partitions and time.monotonic() < deadline:
            if name in await consumer.topics():
                partitions = consumer.partitions_for_topic(name)
            if not partitions:
                await asyncio.sleep(0.2)
        if not partitions:
            raise AssertionError(f"topic {name} does not exist")
        consumer.assign([TopicPartition(name, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        records: list[ConsumerRecord] = []
        settle_until: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
            if len(records) >= at_least:
                if settle <= 0:
                    break
                settle_until = settle_until or time.monotonic() + settle
                if time.monotonic() >= settle_until:
                    break
        return records
    finally:
        await consumer.stop()


def events_of(records: list[ConsumerRecord]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]


async def produce(settings: Settings, topic: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish raw (key, value) messages to a logical topic, in order."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_list, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(settings.topic(topic), value=value, key=key.encode())
    finally:
        await producer.stop()
