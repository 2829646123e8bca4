"""A database that refuses to write (read-only after a fail-over) pauses consumers; nothing is dead-lettered."""

from __future__ import annotations

import asyncpg

from services.eligibility.app import build as build_eligibility
from shared import db
from tests.conftest import eventually
from tests.support.builders import linked_event
from tests.support.kafka import produce, read_topic

KITZINGEN = "09675141"
LINKS = "portal.procedure-links.v1"


async def _set_read_only(database_url: str, on: bool) -> None:
    """What a fail-over to a replica looks like to the service: every new session is read-only."""
    name = db.database_name(database_url)
    admin = await asyncpg.connect(db.with_database(database_url, "postgres"))
    try:
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name
        )
    finally:
        await admin.close()


async def _fetchval(database_url: str, sql: str) -> object:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_a_read_only_database_pauses_the_consumer_and_loses_nothing(start, settings, database_url) -> None:
    _, client = await start("eligibility", build_eligibility)
    assert (await client.get("/readyz")).status_code == 200
    await _set_read_only(database_url, True)
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
        await _set_read_only(database_url, False)

    async def counted() -> bool:
        r = await client.get(f"/v1/authorities/{KITZINGEN}")
        assert r.status_code == 200, r.text  # 503 while the pool replaces its cut connections
        return r.json()["count"] == 50

    await eventually(counted, timeout=60)

    async def ready_again() -> bool:  # the relay, whose connection was cut too, is back after its backoff
        r = await client.get("/readyz")
        assert r.status_code == 200, r.text
        return True

    await eventually(ready_again, timeout=60)
    assert await _fetchval(database_url, "SELECT count(*) FROM eligibility.outbox WHERE event_type = 'DeadLetter'") == 0
    crossings = await read_topic(settings, "eligibility.thresholds.v1", at_least=1, settle=1.0)
    assert len(crossings) == 1
