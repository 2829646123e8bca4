"""The outbox relay publishes what a process committed but never published, and marks it published."""

from __future__ import annotations

from harness.builders import change
from harness.kafka import events_of, read_topic
from services.ingest import feeds
from services.ingest.app import build as build_ingest
from services.ingest.schemas import parse_changes
from shared import db
from shared.authorities import registry
from tests.conftest import eventually, signed


async def test_rows_left_by_a_killed_process_are_published_on_restart(settings, start, pool) -> None:
    # A process that committed its changes and was killed before its relay ran leaves exactly this state:
    changes, errors = parse_changes([change("09675141", f"p-{i}") for i in range(5)], registry())
    assert not errors
    ingest_pool = await db.create_pool(settings.database_url, "ingest")
    try:
        await feeds.accept_changes(ingest_pool, changes, source="push", correlation_id="before-crash")
    finally:
        await ingest_pool.close()
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
