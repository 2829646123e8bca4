"""The lease of a partition fences its member's transactions: a member that froze past its session and lost its
partitions to another cannot write a batch of them, not even its offsets; the new holder can."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI

from harness.builders import linked_event
from harness.kafka import produce, read_topic
from services.eligibility.app import build as build_eligibility
from shared.consumer import BatchConsumer
from shared.leases import Membership, PartitionsLost
from shared.runtime import service_runtime
from shared.topics import PROCEDURE_LINKS
from tests.conftest import MIGRATIONS, eventually

LINKS = "portal.procedure-links.v1"


async def test_a_member_that_lost_its_partitions_cannot_write_them(settings, start, pool) -> None:
    rt, _ = await start("eligibility", lambda rt: FastAPI())  # the schema; no consumer of its own
    seen: list[str] = []

    async def recording(conn: asyncpg.Connection, batch: list[Any]) -> None:
        seen.extend(e.procedure.id for e in batch)

    consumer = BatchConsumer("recorder", PROCEDURE_LINKS, recording, pool=rt.pool, broker=rt.broker, settings=settings)
    events = [linked_event("09675141", f"p-{i}") for i in range(20)]
    await produce(settings, LINKS, [(e.authority_id, e.to_json()) for e in events])
    records = await read_topic(settings, LINKS, at_least=20)
    partitions = list(range(settings.kafka_partitions))
    frozen, alive = (Membership("recorder", LINKS, settings, 1) for _ in range(2))
    frozen_conn, alive_conn = await rt.connect(), await rt.connect()
    try:
        await frozen.heartbeat(frozen_conn, partitions)
        assert frozen.held(frozen.members[0]) == frozenset(partitions)
        await alive.heartbeat(alive_conn, partitions)
        assert alive.held(alive.members[0]) == frozenset()  # its share is the frozen one's while that one lives

        # The first stops renewing (frozen, or cut off from the database) past its session:
        await pool.execute("UPDATE eligibility.consumer_member SET until = now() - interval '1 second' WHERE member = $1",
                           frozen.members[0])
        await alive.heartbeat(alive_conn, partitions)
        assert alive.held(alive.members[0]) == frozenset(partitions)

        with pytest.raises(PartitionsLost):
            await consumer.handle(records, fence=lambda conn, ps: frozen.fence(conn, frozen.members[0], ps))
        assert seen == []
        assert await pool.fetchval("SELECT count(*) FROM eligibility.consumer_offset WHERE consumer = 'recorder'") == 0
        assert await pool.fetchval("SELECT count(*) FROM eligibility.processed_event WHERE consumer = 'recorder'") == 0

        await consumer.handle(records, fence=lambda conn, ps: alive.fence(conn, alive.members[0], ps))
        assert sorted(seen) == sorted(e.procedure.id for e in events)

        await frozen.heartbeat(frozen_conn, partitions)  # it wakes up: back as a member, it gets a share again
        await alive.heartbeat(alive_conn, partitions)  # the other gives that share up at its next heartbeat
        await frozen.heartbeat(frozen_conn, partitions)
        shares = frozen.held(frozen.members[0]), alive.held(alive.members[0])
        assert shares[0] and shares[1] and shares[0] | shares[1] == set(partitions) and not shares[0] & shares[1]
    finally:
        await frozen_conn.close()
        await alive_conn.close()


async def test_the_member_of_a_closed_connection_is_gone_at_once(settings, start) -> None:
    rt, _ = await start("eligibility", lambda rt: FastAPI())
    partitions = list(range(settings.kafka_partitions))
    dead, heir = (Membership("recorder", LINKS, settings, 1) for _ in range(2))
    dead_conn, heir_conn = await rt.connect(), await rt.connect()
    try:
        await dead.heartbeat(dead_conn, partitions)
        dead_conn.terminate()  # the process died: its session would run for seconds yet, its connection is gone
        await heir.heartbeat(heir_conn, partitions)
        assert heir.held(heir.members[0]) == frozenset(partitions)
    finally:
        await heir_conn.close()


async def test_one_group_reading_two_topics_shares_each_among_its_own_members(settings, start) -> None:
    rt, _ = await start("eligibility", lambda rt: FastAPI())
    partitions = list(range(settings.kafka_partitions))
    links, thresholds = Membership("recorder", LINKS, settings, 1), Membership("recorder", "other.v1", settings, 2)
    conn = await rt.connect()
    try:
        for _ in range(2):
            await links.heartbeat(conn, partitions)
            await thresholds.heartbeat(conn, partitions)
        assert links.held(links.members[0]) == frozenset(partitions)
        assert sorted(p for m in thresholds.members for p in thresholds.held(m)) == partitions
    finally:
        await conn.close()


async def test_a_heartbeat_never_creates_a_missing_topic(settings, start) -> None:
    """Some brokers (Tansu) create a topic a client asks about, with their own partition count; after a broker came
    back empty, the producer's relay must be the one that creates it again, with the configured partitions."""
    rt, _ = await start("eligibility", lambda rt: FastAPI())
    absent = Membership("recorder", "absent.v1", settings, 1)
    task = asyncio.create_task(absent.run(rt.connect, lambda: None))
    try:
        await asyncio.wait_for(absent.started.wait(), 10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_list)
    await admin.start()
    try:
        assert settings.topic("absent.v1") not in await admin.list_topics()
    finally:
        await admin.close()
    assert absent.held(absent.members[0]) == frozenset()


async def test_a_reading_member_commits_to_kafka_at_its_interval_and_when_it_stops(settings, pool) -> None:
    """The next fetch does not wait for a commit after every batch: what was applied is in PostgreSQL, Kafka hears
    it when `CONSUMER_COMMIT_EVERY_S` has passed, and all of it at a graceful stop."""
    events = [linked_event("09675141", f"p-{i}") for i in range(40)]
    await produce(settings, LINKS, [(e.authority_id, e.to_json()) for e in events])
    rarely = settings.model_copy(update={"consumer_commit_every_s": 3600.0})

    async def committed() -> int:
        reader = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_list, group_id=settings.group_id("eligibility"),
                                  enable_auto_commit=False)
        await reader.start()
        try:
            topic = settings.topic(LINKS)
            await reader.topics()
            return sum([await reader.committed(TopicPartition(topic, p)) or 0 for p in reader.partitions_for_topic(topic)])
        finally:
            await reader.stop()

    async def counted() -> bool:
        return await pool.fetchval("SELECT count FROM eligibility.authority_count WHERE authority_id = '09675141'") == 40

    async with service_runtime("eligibility", MIGRATIONS["eligibility"], build_eligibility, rarely):
        await eventually(counted)
        assert await committed() == 0  # applied, and not due yet: Kafka has where the members started
    assert await committed() == 40  # the stop committed what the members had applied


async def test_readyz_answers_503_until_the_first_heartbeat_has_given_out_the_partitions(start, database_url) -> None:
    """A process that has not yet taken part in a heartbeat reads nothing: it must not receive traffic as ready.
    Its first heartbeat is held up by a lock on the members' table; it is ready once the lock is gone."""
    blocker = await asyncpg.connect(database_url)
    held = blocker.transaction()
    await held.start()
    await blocker.execute("LOCK TABLE eligibility.consumer_member IN ACCESS EXCLUSIVE MODE")
    try:
        _, client = await start("eligibility", build_eligibility)

        async def heartbeat_waits() -> bool:
            return await blocker.fetchval(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE NOT l.granted AND c.relname = 'consumer_member'"
            ) > 0

        await eventually(heartbeat_waits)
        r = await client.get("/readyz")
        assert r.status_code == 503, r.text
        assert r.json()["down"]["leases:eligibility:portal.procedure-links.v1"].startswith(
            "waiting for its first heartbeat"), r.text
    finally:
        await held.rollback()
        await blocker.close()

    async def ready() -> bool:
        r = await client.get("/readyz")
        assert r.status_code == 200, r.text
        return True

    await eventually(ready)
