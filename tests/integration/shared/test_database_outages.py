"""A database that refuses to write (read-only after a fail-over) pauses consumers; nothing is dead-lettered."""

from __future__ import annotations

import asyncpg

from harness.builders import linked_event
from harness.infra import set_read_only
from harness.kafka import produce, read_topic
from services.eligibility.app import build as build_eligibility
from tests.conftest import eventually

KITZINGEN = "09675141"
LINKS = "portal.procedure-links.v1"


async def _fetchval(database_url: str, sql: str) -> object:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_a_read_only_database_pauses_the_consumer_and_loses_nothing(start, settings, database_url) -> None:
    _, client = await start("eligibility", build_eligibility)

    async def ready() -> bool:  # reading: its first heartbeat gave it the partitions (and after the outage, the
        r = await client.get("/readyz")  # relay, whose connection was cut too, is back after its backoff)
        assert r.status_code == 200, r.text
        return True

    await eventually(ready)
    await set_read_only(database_url, True)
    try:
        await produce(settings, LINKS, [(KITZINGEN, linked_event(KITZINGEN, f"p-{i}").to_json()) for i in range(50)])

        async def unready() -> dict:
            r = await client.get("/readyz")
            assert r.status_code == 503, r.text
            down = r.json()["down"]
            assert "ReadOnlySQLTransactionError" in down.get("consumer:eligibility", ""), down
            return down

        await eventually(unready, timeout=30)
    finally:
        await set_read_only(database_url, False)

    async def counted() -> bool:
        r = await client.get(f"/v1/authorities/{KITZINGEN}")
        assert r.status_code == 200, r.text  # 503 while the pool replaces its cut connections
        return r.json()["count"] == 50

    await eventually(counted, timeout=60)

    await eventually(ready, timeout=60)
    assert await _fetchval(database_url, "SELECT count(*) FROM eligibility.outbox WHERE event_type = 'DeadLetter'") == 0
    crossings = await read_topic(settings, "eligibility.thresholds.v1", at_least=1, settle=1.0)
    assert len(crossings) == 1
