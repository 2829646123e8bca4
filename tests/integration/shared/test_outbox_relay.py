"""The outbox relay publishes what a process committed but never published, and marks it published."""

from __future__ import annotations

import asyncio

import pytest

from harness.builders import change
from harness.kafka import events_of, read_topic
from services.ingest import feeds
from services.ingest.app import build as build_ingest
from services.ingest.schemas import parse_changes
from shared import db, outbox
from shared.authorities import registry
from shared.topics import ensure_topics
from tests.conftest import eventually, signed

LINKS = "portal.procedure-links.v1"


async def _accept(settings, procedures: list[str]) -> None:
    changes, errors = parse_changes([change("09675141", p) for p in procedures], registry())
    assert not errors
    ingest_pool = await db.create_pool(settings.database_url, "ingest")
    try:
        await feeds.accept_changes(ingest_pool, changes, source="push", correlation_id="before-crash")
    finally:
        await ingest_pool.close()


async def test_rows_left_by_a_killed_process_are_published_on_restart(settings, start, pool) -> None:
    # A process that committed its changes and was killed before its relay ran leaves exactly this state:
    await _accept(settings, [f"p-{i}" for i in range(5)])
    assert await pool.fetchval("SELECT count(*) FROM ingest.outbox_pending") == 5

    await start("ingest", build_ingest)

    records = await read_topic(settings, "portal.procedure-links.v1", at_least=5, settle=1.0)
    assert sorted(e["procedure"]["id"] for e in events_of(records)) == [f"p-{i}" for i in range(5)]
    assert {r.key for r in records} == {b"09675141"}
    assert [e["procedure"]["id"] for e in events_of(records)] == [f"p-{i}" for i in range(5)], "in commit order"

    async def all_marked() -> bool:
        return await pool.fetchval("SELECT count(*) FROM ingest.outbox_pending") == 0

    await eventually(all_marked)


async def test_two_instances_publish_each_event_once(settings, start) -> None:
    _, first = await start("ingest", build_ingest)
    _, second = await start("ingest", build_ingest)
    for client, n in ((first, 0), (second, 1), (first, 2)):
        body = {"changes": [change("09675141", f"p-{n}-{i}") for i in range(20)]}
        assert (await client.post("/v1/portal/changes", **signed(body))).status_code == 202

    records = await read_topic(settings, "portal.procedure-links.v1", at_least=60, settle=2.0)
    ids = [e["procedure"]["id"] for e in events_of(records)]
    assert len(ids) == 60 == len(set(ids))


@pytest.mark.parametrize("marked_before", [True, False], ids=["after-a-saved-position", "first-on-the-log"])
async def test_rows_published_by_a_relay_killed_before_its_mark_are_not_published_again(
    settings, start, pool, marked_before
) -> None:
    await ensure_topics(settings)
    conn = await db.connect(settings.database_url, "ingest")
    producer = outbox.new_producer(settings)
    await producer.start()
    try:
        await _accept(settings, [f"p-{i}" for i in range(5)])
        if marked_before:
            assert await outbox.OutboxRelay(settings).drain_once(conn, producer) == 5  # published and marked
        # What is pending is sent and acknowledged, then the process dies before its mark: it stays pending.
        await _accept(settings, [f"p-{i}" for i in range(5, 10)])
        rows = await conn.fetch("SELECT o.* FROM outbox_pending p JOIN outbox o USING (id) ORDER BY id")
        await asyncio.gather(*[await producer.send(settings.topic(r["topic"]), **outbox._message(r)) for r in rows])
        assert await conn.fetchval("SELECT count(*) FROM outbox_pending") == (5 if marked_before else 10)
        assert await conn.fetchval("SELECT count(*) FROM relay_position") == (1 if marked_before else 0)
    finally:
        await producer.stop()
        await conn.close()
    await _accept(settings, [f"p-{i}" for i in range(10, 12)])  # and two more that were never sent

    await start("ingest", build_ingest)

    async def all_marked() -> bool:
        return await pool.fetchval("SELECT count(*) FROM ingest.outbox_pending") == 0

    await eventually(all_marked)
    records = await read_topic(settings, LINKS, at_least=12, settle=1.0)
    assert sorted(e["procedure"]["id"] for e in events_of(records)) == sorted(f"p-{i}" for i in range(12))
    event_ids = [dict(r.headers)["event_id"] for r in records]
    assert len(event_ids) == len(set(event_ids)) == 12, "each event once on the log"
