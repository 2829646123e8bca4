"""Idempotent batch consumption: parse, skip seen events, apply in one transaction, retry, dead-letter.

Two ways to make redelivery harmless: by default the consumed event ids are claimed in `processed_event` in the
handler's transaction (a seen id is skipped); a handler that is idempotent by its own state (eligibility's link
rows carry the latest change they applied) sets `dedupe_event_ids=False` and saves one row per event. Either
way the applied offset per partition is stored in `consumer_offset` in the same transaction.

Offsets are committed by FastStream only after `handle` returns (AckPolicy.NACK_ON_ERROR): a transient failure
(database or broker away) raises, the batch is sought back and redelivered; a message that fails for any other
reason is retried a bounded number of times on its own and then published to `<topic>.dlq` with the error in
headers, so the partition moves on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

import asyncpg
import structlog
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter, Histogram
from pydantic import TypeAdapter, ValidationError

from shared.events import Event, log_fields
from shared.faults import TRANSIENT
from shared.settings import Settings
from shared.topics import TopicSpec, dlq

log = structlog.get_logger(__name__)

CONSUMED = Counter("events_consumed_total", "events applied", ["consumer"])
DUPLICATES = Counter("events_duplicate_total", "redelivered events skipped", ["consumer"])
DEAD_LETTERED = Counter("events_dead_lettered_total", "messages sent to a dead-letter topic", ["consumer"])
BATCH_SECONDS = Histogram("consumer_batch_seconds", "time to apply one batch", ["consumer"])

Apply = Callable[[asyncpg.Connection, list[Any]], Awaitable[None]]


_SAVE_OFFSETS = """
INSERT INTO consumer_offset AS o (consumer, topic, partition, "offset")
SELECT $1, t, p, off FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, off)
ON CONFLICT (consumer, topic, partition) DO UPDATE SET "offset" = excluded."offset", updated_at = now()
    WHERE excluded."offset" > o."offset"
"""

_CLAIM = """
INSERT INTO processed_event (consumer, event_id)
SELECT $1, unnest($2::uuid[])
ON CONFLICT DO NOTHING
RETURNING event_id
"""


class Incoming(NamedTuple):
    """A record and its parsed event (a tuple: thousands are built per batch)."""

    record: ConsumerRecord
    event: Event


class PoisonMessage(Exception):
    """A message that can never be processed: not JSON, wrong schema, unknown event type."""


async def _undecoded(_: Any) -> None:
    """The handler reads the raw records itself (to isolate poison); FastStream need not decode the batch."""
    return None


def _header_safe(text: str, limit: int = 2_000) -> str:
    return " ".join(text.split())[:limit]


class BatchConsumer:
    def __init__(
        self,
        name: str,
        spec: TopicSpec,
        apply: Apply,
        *,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        settings: Settings,
        dedupe_event_ids: bool = True,
        members: int = 1,
    ) -> None:
        self.name = name
        self.members = members
        self.dedupe_event_ids = dedupe_event_ids
        self.spec = spec
        self.apply = apply
        self.pool = pool
        self.broker = broker
        self.settings = settings
        self._adapter: TypeAdapter[Any] = spec.adapter()
        self._list_adapter: TypeAdapter[list[Any]] = TypeAdapter(list[spec.message_type])  # type: ignore[name-defined]

    def subscribe(self, description: str) -> None:
        """Register the FastStream batch subscriber(s) for this consumer on the broker.

        With `members` > 1 the process joins the group that many times: the partitions are shared out, and while
        one member waits for its transaction, another parses and decides on its own batch. A partition still has
        one member at a time (and the handler's per-key locks serialise the brief overlap of a rebalance).
        """
        for member in range(self.members):
            self._subscribe_member(description, member)

    def _subscribe_member(self, description: str, member: int) -> None:
        s = self.settings
        suffix = f" (member {member + 1})" if member else ""

        @self.broker.subscriber(
            s.topic(self.spec.name),
            batch=True,
            group_id=s.group_id(self.name),
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            max_records=s.consumer_max_records,
            batch_timeout_ms=100,
            fetch_max_wait_ms=s.kafka_fetch_max_wait_ms,
            session_timeout_ms=s.kafka_session_timeout_ms,
            heartbeat_interval_ms=s.kafka_heartbeat_interval_ms,
            title=f"{self.name}:{self.spec.name}{suffix}",
            description=description,
            decoder=_undecoded,
        )
        async def consume(message: KafkaMessage) -> None:
            records = message.raw_message if isinstance(message.raw_message, tuple) else (message.raw_message,)
            await self.handle(records)

    def parse(self, record: ConsumerRecord) -> Event:
        try:
            return self._adapter.validate_json(record.value or b"")
        except ValidationError as exc:
            raise PoisonMessage(_header_safe(str(exc))) from exc

    async def parse_all(self, records: Sequence[ConsumerRecord]) -> tuple[list[Incoming], list[tuple[ConsumerRecord, PoisonMessage]]]:
        """The whole batch in one pass; only when that fails, message by message to find the poison."""
        try:
            events = self._list_adapter.validate_json(b"[" + b",".join(r.value or b"null" for r in records) + b"]")
            return [Incoming(r, e) for r, e in zip(records, events, strict=True)], []
        except ValueError:  # a ValidationError, or a value that is a JSON fragment of several items
            pass
        good, poison = [], []
        for record in records:
            try:
                good.append(Incoming(record, self.parse(record)))
            except PoisonMessage as exc:
                poison.append((record, exc))
        return good, poison

    async def handle(self, records: Sequence[ConsumerRecord]) -> None:
        good, poison = await self.parse_all(records)
        for record, exc in poison:
            await self.dead_letter(record, exc, attempts=1)
        if not good:
            return
        started = time.perf_counter()
        try:
            await self._apply_in_tx(good)
        except TRANSIENT as exc:
            await self._back_off(exc)
        except Exception as exc:  # noqa: BLE001 - isolate the failing message, then dead-letter it
            log.warning("batch_failed_isolating", consumer=self.name, size=len(good), error=repr(exc))
            for item in good:
                await self._one_with_retries(item)
        BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    async def _apply_in_tx(self, items: list[Incoming]) -> None:
        unique = list({i.event.event_id: i.event for i in items}.values())
        offsets: dict[tuple[str, int], int] = {}
        for record, _ in items:
            key = (record.topic, record.partition)
            offsets[key] = max(offsets.get(key, -1), record.offset)
        async with self.pool.acquire() as conn, conn.transaction():
            events = unique
            if self.dedupe_event_ids:
                fresh = {r["event_id"] for r in await conn.fetch(_CLAIM, self.name, [e.event_id for e in unique])}
                events = [e for e in unique if e.event_id in fresh]
            if events:
                await self.apply(conn, events)
            keys = sorted(offsets)
            await conn.execute(_SAVE_OFFSETS, self.name, [k[0] for k in keys], [k[1] for k in keys], [offsets[k] for k in keys])
        CONSUMED.labels(self.name).inc(len(events))
        if skipped := len(items) - len(events):
            DUPLICATES.labels(self.name).inc(skipped)

    async def _one_with_retries(self, item: Incoming) -> None:
        attempts = 0
        with structlog.contextvars.bound_contextvars(**log_fields(item.event)):
            while True:
                attempts += 1
                try:
                    await self._apply_in_tx([item])
                    return
                except TRANSIENT as exc:
                    await self._back_off(exc)
                except Exception as exc:  # noqa: BLE001
                    if attempts > self.settings.consumer_retries:
                        await self.dead_letter(item.record, exc, attempts=attempts)
                        return
                    log.warning("event_failed_retrying", attempt=attempts, error=repr(exc))
                    await asyncio.sleep(self.settings.consumer_retry_backoff_s * 2 ** (attempts - 1))

    async def _back_off(self, exc: BaseException) -> None:
        log.warning("consumer_transient_error", consumer=self.name, error=repr(exc))
        await asyncio.sleep(1.0)
        raise exc

    async def dead_letter(self, record: ConsumerRecord, exc: BaseException, *, attempts: int) -> None:
        headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
        headers.update(
            {
                "dlq_error": _header_safe(str(exc) or repr(exc)),
                "dlq_error_type": type(exc.__cause__ or exc).__name__,
                "dlq_consumer": self.name,
                "dlq_source_topic": record.topic,
                "dlq_source_partition": str(record.partition),
                "dlq_source_offset": str(record.offset),
                "dlq_attempts": str(attempts),
            }
        )
        await self.broker.publish(record.value or b"", topic=dlq(record.topic), key=record.key, headers=headers)
        DEAD_LETTERED.labels(self.name).inc()
        log.error(
            "event_dead_lettered",
            consumer=self.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=headers["dlq_error"],
        )
