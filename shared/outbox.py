"""Transactional outbox: events are written in the caller's transaction and published by one relay per schema."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge

from shared.events import Event
from shared.settings import Settings
from shared.topics import topic_of

log = structlog.get_logger(__name__)

PUBLISHED = Counter("outbox_published_total", "events published from the outbox", ["topic"])
PENDING = Gauge("outbox_pending", "events written but not yet published")

_INSERT = """
INSERT INTO outbox (event_id, topic, key, event_type, correlation_id, payload)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[])
ON CONFLICT (event_id) DO NOTHING
"""
_NOTIFY = "SELECT pg_notify('outbox_' || current_schema(), '')"
_FETCH = """
SELECT id, event_id, topic, key, event_type, correlation_id, payload FROM outbox
WHERE published_at IS NULL ORDER BY id LIMIT $1
"""
_MARK = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
_PENDING = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
_LOCK = "SELECT pg_try_advisory_lock(hashtext('outbox_relay.' || current_schema()))"
_CHANNEL = "SELECT 'outbox_' || current_schema()"


async def enqueue(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    """Write events to the outbox inside the caller's open transaction; the relay is woken on commit."""
    if not events:
        return
    await conn.execute(
        _INSERT,
        [e.event_id for e in events],
        [topic_of(e).name for e in events],
        [e.authority_id for e in events],
        [e.event_type for e in events],
        [e.correlation_id for e in events],
        [e.to_json() for e in events],
    )
    await conn.execute(_NOTIFY)


class OutboxRelay:
    """Publishes unpublished outbox rows in id order with acks=all, then marks them published.

    One relay per schema holds an advisory lock, so a second instance of a service waits instead of reordering.
    A crash between publish and mark re-publishes those rows on restart (at least once), never loses them.
    """

    def __init__(self, settings: Settings, *, batch_size: int = 1_000, poll_s: float = 1.0) -> None:
        self.settings = settings
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.wake = asyncio.Event()

    async def run(self, connect: Any) -> None:
        """Loop forever; `connect` opens a dedicated connection (it holds the leader lock and the LISTEN)."""
        backoff = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            producer: AIOKafkaProducer | None = None
            try:
                conn = await connect()
                if not await conn.fetchval(_LOCK):
                    await conn.close()
                    await asyncio.sleep(self.poll_s * 5)
                    continue
                channel = await conn.fetchval(_CHANNEL)
                await conn.add_listener(channel, lambda *_: self.wake.set())
                producer = new_producer(self.settings)
                await producer.start()
                log.info("outbox_relay_leading")
                backoff = 0.5
                while True:
                    sent = await self.drain_once(conn, producer)
                    if sent < self.batch_size:
                        self.wake.clear()
                        try:
                            await asyncio.wait_for(self.wake.wait(), timeout=self.poll_s)
                        except TimeoutError:
                            pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the relay must outlive broker and database outages
                log.warning("outbox_relay_error", error=repr(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if producer is not None:
                    await producer.stop()
                if conn is not None and not conn.is_closed():
                    conn.terminate()

    async def drained(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        """Wait until every outbox row is published (for one-shot commands), at most `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while await pool.fetchval(_PENDING):
                self.wake.set()
                await asyncio.sleep(0.1)

    async def drain_once(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        rows = await conn.fetch(_FETCH, self.batch_size)
        if not rows:
            PENDING.set(0)
            return 0
        futures = [
            await producer.send(
                self.settings.topic(r["topic"]),
                value=r["payload"],
                key=r["key"].encode(),
                headers=[
                    ("content-type", b"application/json"),
                    ("event_type", r["event_type"].encode()),
                    ("event_id", str(r["event_id"]).encode()),
                    ("correlation_id", r["correlation_id"].encode()),
                ],
            )
            for r in rows
        ]
        await asyncio.gather(*futures)
        await conn.execute(_MARK, [r["id"] for r in rows])
        for topic, n in collections.Counter(r["topic"] for r in rows).items():
            PUBLISHED.labels(topic).inc(n)
        PENDING.set(await conn.fetchval(_PENDING))
        return len(rows)


def new_producer(settings: Settings) -> AIOKafkaProducer:
    """acks=all and no idempotence (Tansu refuses idempotent producers); one in-flight order per partition."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_list,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=15_000,
        client_id="digitales-amt-relay",
    )
