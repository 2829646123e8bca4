"""Idempotent batch consumption: parse, skip seen events, apply in one transaction, and the error policy.

Two ways to make redelivery harmless: by default the consumed event ids are claimed in `processed_event` in the
handler's transaction (a seen id is skipped); a handler that is idempotent by its own state (eligibility's link
rows carry the latest change they applied) sets `dedupe_event_ids=False` and saves one row per event. Either
way the applied offset per partition is stored in `consumer_offset` in the same transaction.

Offsets are committed to Kafka only after `handle` returns: by FastStream (AckPolicy.NACK_ON_ERROR) for a consumer
group, by `run_member` for partitions held by leases (`shared.leases`, the default), whose transactions also check
that the batch's partitions are still the member's. What happens on a
failure is `shared.faults`' policy: poison (and, after bounded retries, a bug) is dead-lettered, i.e. written
to the outbox for `<topic>.dlq` in the transaction that records its offset; an outage pauses the consumer with
capped backoff, marks it down in `/readyz`, and raises, so the batch is sought back and redelivered until the
outage is over. Nothing is dead-lettered because of an outage.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter, Histogram
from pydantic import TypeAdapter, ValidationError

from shared import outbox
from shared.events import Event, log_fields
from shared.faults import PoisonMessage, classify, is_infrastructure
from shared.health import Health
from shared.leases import CommittedOffsets, Connect, Membership, PartitionsLost
from shared.runtime import Broker
from shared.settings import Settings
from shared.supervisor import Beat, Job, backoff_delay
from shared.topics import TopicSpec, dlq

log = structlog.get_logger(__name__)

CONSUMED = Counter("events_consumed_total", "events applied", ["consumer"])
DUPLICATES = Counter("events_duplicate_total", "redelivered events skipped", ["consumer"])
DEAD_LETTERED = Counter("events_dead_lettered_total", "messages sent to a dead-letter topic", ["consumer"])
PAUSES = Counter("consumer_pauses_total", "batches put back because the database or broker failed", ["consumer"])
BATCH_SECONDS = Histogram("consumer_batch_seconds", "time to apply one batch", ["consumer"])

Apply = Callable[[asyncpg.Connection, list[Any]], Awaitable[None]]
Fence = Callable[[asyncpg.Connection, set[int]], Awaitable[None]]  # inside the transaction: the partitions are ours
RACE_ATTEMPTS = 5


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


class DeadLetter(NamedTuple):
    record: ConsumerRecord
    error: BaseException
    attempts: int


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
        broker: Broker,
        settings: Settings,
        dedupe_event_ids: bool = True,
        members: int = 1,
        health: Health | None = None,
        decode: Callable[[bytes], Sequence[Any] | None] | None = None,
    ) -> None:
        self.name = name
        self.members = members
        self.dedupe_event_ids = dedupe_event_ids
        self.spec = spec
        self.apply = apply
        self.pool = pool
        self.broker = broker
        self.settings = settings
        self.health = health or Health()
        self.decode = decode
        self._outages = 0
        self._adapter: TypeAdapter[Any] = spec.adapter()
        self._list_adapter: TypeAdapter[list[Any]] = TypeAdapter(list[spec.message_type])  # type: ignore[name-defined]

    def subscribe(self, description: str, connect: Connect) -> dict[str, Job]:
        """Register this consumer: its members' supervised jobs under leases (returned), else FastStream's
        subscribers of a consumer group. In the AsyncAPI document either way.

        With `members` > 1 the process has that many members: the partitions are shared out, and while one member
        waits for its transaction, another parses and decides on its own batch. A partition has one member at a
        time (under a group, the handler's per-key locks serialise the brief overlap of a rebalance).
        """
        if self.settings.kafka_assignment == "group":
            for member in range(self.members):
                self._subscribe_member(description, member)
            return {}
        self.broker.documented_only.append(self._subscribe_member(description, 0))
        starting = f"leases:{self.name}:{self.spec.name}"  # not ready before it reads (one per topic of a service)
        self.health.down(starting, "waiting for its first heartbeat")
        membership = Membership(self.settings.group_id(self.name), self.spec.name, self.settings, self.members)
        jobs: dict[str, Job] = {f"{self.name}:{self.spec.name} leases": lambda beat: membership.run(connect, beat)}
        for i, member in enumerate(membership.members):
            jobs[f"{self.name}:{self.spec.name} member {i + 1}"] = (
                lambda beat, member=member: self.run_member(membership, member, beat, starting))
        return jobs

    def _subscribe_member(self, description: str, member: int) -> Any:
        s = self.settings
        suffix = f" (member {member + 1})" if member else ""

        subscriber = self.broker.subscriber(
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

        @subscriber
        async def consume(message: KafkaMessage) -> None:
            records = message.raw_message if isinstance(message.raw_message, tuple) else (message.raw_message,)
            await self.handle(records)

        return subscriber

    async def run_member(self, membership: Membership, member: uuid.UUID, beat: Beat, starting: str) -> None:
        """One member under leases: fetch from the partitions it holds (from the group's committed offsets, no
        join), apply each batch fenced by its leases, and commit the offsets to Kafka under the group id (every
        `CONSUMER_COMMIT_EVERY_S` while it reads, and when it stops)."""
        s = self.settings
        reader = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_list, group_id=s.group_id(self.name), enable_auto_commit=False,
            auto_offset_reset="earliest", fetch_max_wait_ms=s.kafka_fetch_max_wait_ms, request_timeout_ms=15_000,
            client_id=f"digitales-amt-{self.name}",
        )
        topic = s.topic(self.spec.name)
        assigned: frozenset[int] = frozenset()
        offsets = CommittedOffsets(reader, every_s=s.consumer_commit_every_s)
        await reader.start()
        try:
            await membership.started.wait()
            self.health.up(starting)
            while True:
                beat()
                if (held := membership.held(member)) != assigned:
                    await offsets.adopt([TopicPartition(topic, p) for p in sorted(held)])
                    assigned = held
                if not assigned:
                    await membership.changed(timeout=1.0)
                    continue
                fetched = await reader.getmany(timeout_ms=100, max_records=s.consumer_max_records)
                if not fetched:
                    if offsets.waiting:  # applied but not committed yet (not due, or it failed): when due
                        await offsets.commit({})
                    continue
                try:
                    await self.handle([r for tp in sorted(fetched) for r in fetched[tp]],
                                      fence=lambda conn, parts: membership.fence(conn, member, parts))
                except PartitionsLost as exc:
                    log.warning("partitions_lost", consumer=self.name, error=str(exc))
                    membership.lost(member, {tp.partition for tp in fetched})
                    membership.hurry()
                    continue
                except Exception as exc:  # noqa: BLE001 - `handle` raises only after an outage's pause (shared.faults):
                    if not is_infrastructure(exc):  # that batch is read again; anything else goes to the supervisor
                        raise
                    _rewind(reader, fetched)
                    continue
                await offsets.commit({tp: records[-1].offset + 1 for tp, records in fetched.items()})
        finally:
            try:
                if offsets.unsaved:  # a graceful stop: the next start need not read again what this member applied
                    await offsets.commit({}, timeout_s=0.8, now=True)  # within the shutdown's grace (stop_tasks)
            finally:
                await reader.stop()

    def parse(self, record: ConsumerRecord) -> Event:
        try:
            return self._adapter.validate_json(record.value or b"")
        except ValidationError as exc:
            raise PoisonMessage(_header_safe(str(exc))) from exc

    async def parse_all(self, records: Sequence[ConsumerRecord]) -> tuple[list[Incoming], list[DeadLetter]]:
        """The whole batch in one pass (by the faster reader if there is one and it accepts the batch, else by the
        contract's models); only when that fails, message by message to find the poison."""
        batch = b"[" + b",".join(r.value or b"null" for r in records) + b"]"
        if self.decode is not None and (fast := self.decode(batch)) is not None and len(fast) == len(records):
            return [Incoming(r, e) for r, e in zip(records, fast, strict=True)], []
        try:
            events = self._list_adapter.validate_json(batch)
            return [Incoming(r, e) for r, e in zip(records, events, strict=True)], []
        except ValueError:  # a ValidationError, or a value that is a JSON fragment of several items
            pass
        good, poison = [], []
        for record in records:
            try:
                good.append(Incoming(record, self.parse(record)))
            except PoisonMessage as exc:
                poison.append(DeadLetter(record, exc, 1))
        return good, poison

    async def handle(self, records: Sequence[ConsumerRecord], fence: Fence | None = None) -> None:
        """Apply a batch, or raise after a pause if the infrastructure failed (the batch is then redelivered);
        PartitionsLost at once if `fence` finds the partitions taken over."""
        good, poison = await self.parse_all(records)
        started = time.perf_counter()
        try:
            await self._commit(good, poison, fence)
        except PartitionsLost:
            raise
        except Exception as exc:  # noqa: BLE001 - classified by shared.faults: an outage re-raises after a pause,
            # anything else isolates the failing message(s), each then retried or dead-lettered on its own.
            if is_infrastructure(exc):
                await self._pause(exc)
                raise
            log.warning("batch_failed_isolating", consumer=self.name, size=len(good), error=repr(exc))
            await self._isolate(records, good, poison, fence)
        self._recovered()
        BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    async def _commit(self, items: list[Incoming], dead: list[DeadLetter], fence: Fence | None) -> None:
        """One transaction, repeated at once if it lost a race (serialization failure, deadlock)."""
        for attempt in range(1, RACE_ATTEMPTS + 1):
            try:
                await self._apply_in_tx(items, dead, fence)
                return
            except asyncpg.PostgresError as exc:
                if classify(exc) != "race" or attempt == RACE_ATTEMPTS:
                    raise
                log.info("transaction_race_retried", consumer=self.name, attempt=attempt, error=repr(exc))

    async def _apply_in_tx(self, items: list[Incoming], dead: list[DeadLetter], fence: Fence | None) -> None:
        """State, consumed ids, dead letters and offsets commit together, or none of them."""
        unique = list({i.event.event_id: i.event for i in items}.values())
        offsets: dict[tuple[str, int], int] = {}
        for record in [i.record for i in items] + [d.record for d in dead]:
            key = (record.topic, record.partition)
            offsets[key] = max(offsets.get(key, -1), record.offset)
        if not offsets:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            if fence is not None:
                await fence(conn, {p for _, p in offsets})
            events = unique
            if self.dedupe_event_ids and unique:
                fresh = {r["event_id"] for r in await conn.fetch(_CLAIM, self.name, [e.event_id for e in unique])}
                events = [e for e in unique if e.event_id in fresh]
            if events:
                await self.apply(conn, events)
            for d in dead:
                await self._enqueue_dead_letter(conn, d)
            keys = sorted(offsets)
            await conn.execute(_SAVE_OFFSETS, self.name, [k[0] for k in keys], [k[1] for k in keys], [offsets[k] for k in keys])
        CONSUMED.labels(self.name).inc(len(events))
        if skipped := len(items) - len(events):
            DUPLICATES.labels(self.name).inc(skipped)
        for d in dead:
            DEAD_LETTERED.labels(self.name).inc()
            log.error("event_dead_lettered", consumer=self.name, topic=d.record.topic, partition=d.record.partition,
                      offset=d.record.offset, attempts=d.attempts, error=_header_safe(str(d.error) or repr(d.error)))

    async def _isolate(self, records: Sequence[ConsumerRecord], good: list[Incoming], poison: list[DeadLetter],
                       fence: Fence | None) -> None:
        """Message by message in the batch's order: the good ones applied, the failing one retried or dead-lettered."""
        by_offset = {(i.record.topic, i.record.partition, i.record.offset): i for i in good}
        dead = {(d.record.topic, d.record.partition, d.record.offset): d for d in poison}
        for r in records:
            key = (r.topic, r.partition, r.offset)
            if key in dead:
                await self._commit([], [dead[key]], fence)
            elif key in by_offset:
                await self._one_with_retries(by_offset[key], fence)

    async def _one_with_retries(self, item: Incoming, fence: Fence | None) -> None:
        attempts = 0
        with structlog.contextvars.bound_contextvars(**log_fields(item.event)):
            while True:
                attempts += 1
                try:
                    await self._commit([item], [], fence)
                    return
                except PartitionsLost:
                    raise
                except Exception as exc:  # noqa: BLE001 - classified by shared.faults, as in `handle`
                    fault = classify(exc)
                    if fault in ("infrastructure", "race"):
                        await self._pause(exc)
                        raise
                    if fault == "poison" or attempts > self.settings.consumer_retries:
                        if fault == "bug":
                            log.error("event_failed_for_good", attempts=attempts, exc_info=exc)
                        await self._commit([], [DeadLetter(item.record, exc, attempts)], fence)
                        return
                    log.warning("event_failed_retrying", attempt=attempts, error=repr(exc))
                    await asyncio.sleep(self.settings.consumer_retry_backoff_s * 2 ** (attempts - 1))

    async def _pause(self, exc: BaseException) -> None:
        """An outage: report not ready, wait (growing, capped), then let the caller raise for a redelivery."""
        self._outages += 1
        delay = backoff_delay(self._outages, base_s=0.5, cap_s=self.settings.retry_max_backoff_s)
        self.health.down(f"consumer:{self.name}", f"{type(exc).__name__}: {exc}")
        PAUSES.labels(self.name).inc()
        log.warning("consumer_paused", consumer=self.name, error=repr(exc), fault=classify(exc),
                    outages=self._outages, retry_in_s=round(delay, 2))
        await asyncio.sleep(delay)

    def _recovered(self) -> None:
        if self._outages:
            log.info("consumer_recovered", consumer=self.name, after_outages=self._outages)
            self._outages = 0
        self.health.up(f"consumer:{self.name}")

    async def _enqueue_dead_letter(self, conn: asyncpg.Connection, d: DeadLetter) -> None:
        record, exc = d.record, d.error
        headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
        headers.update(
            {
                "dlq_error": _header_safe(str(exc) or repr(exc)),
                "dlq_error_type": type(exc.__cause__ or exc).__name__,
                "dlq_consumer": self.name,
                "dlq_source_topic": record.topic,
                "dlq_source_partition": str(record.partition),
                "dlq_source_offset": str(record.offset),
                "dlq_attempts": str(d.attempts),
                "dlq_at": datetime.now(UTC).isoformat(),
            }
        )
        value = record.value or b""
        await outbox.enqueue_raw(
            conn,
            event_id=outbox.dead_letter_id(self.name, record.topic, record.partition, record.offset, value),
            topic=dlq(self.spec.name),
            key=record.key.decode(errors="replace") if record.key is not None else None,
            value=value,
            headers=headers,
            event_type="DeadLetter",
            correlation_id=headers.get("correlation_id", ""),
        )


def _rewind(reader: AIOKafkaConsumer, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
    """Read a batch that was not applied again, from its first record per partition still assigned."""
    assigned = reader.assignment()
    for tp, records in fetched.items():
        if tp in assigned:
            reader.seek(tp, records[0].offset)
