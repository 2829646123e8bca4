"""Migrations apply to an empty database, and applying them again changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg

from shared import db
from tests.conftest import MIGRATIONS


@contextlib.asynccontextmanager
async def empty_database(pg_server_url: str, prefix: str) -> AsyncIterator[str]:
    url = db.with_database(pg_server_url, f"da_test_{prefix}_{uuid.uuid4().hex[:8]}")
    await db.ensure_database(url)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(db.with_database(pg_server_url, "postgres"))
        await admin.execute(f'DROP DATABASE "{db.database_name(url)}" WITH (FORCE)')
        await admin.close()


async def test_migrations_apply_to_an_empty_database_twice(pg_server_url: str) -> None:
    async with empty_database(pg_server_url, "empty") as url:
        for _ in range(2):
            for service, path in MIGRATIONS.items():
                await db.migrate(url, service, path)
        conn = await asyncpg.connect(url)
        try:
            tables = {
                (r["table_schema"], r["table_name"])
                for r in await conn.fetch(
                    "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = ANY($1)",
                    list(MIGRATIONS),
                )
            }
            for service in MIGRATIONS:
                assert {(service, "outbox"), (service, "processed_event"), (service, "schema_migrations")} <= tables
                versions = [r["version"] for r in await conn.fetch(f"SELECT version FROM {service}.schema_migrations")]
                assert len(versions) == len(set(versions))
            assert ("ingest", "link_state") in tables
            assert ("eligibility", "authority_count") in tables
        finally:
            await conn.close()


async def test_concurrent_starts_migrate_once(pg_server_url: str) -> None:
    async with empty_database(pg_server_url, "race") as url:
        await asyncio.gather(*(db.migrate(url, "ingest", MIGRATIONS["ingest"]) for _ in range(4)))
        conn = await asyncpg.connect(url)
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM ingest.schema_migrations")]
        await conn.close()
        assert len(versions) == len(set(versions)) >= 3


async def test_an_outbox_from_before_keeps_what_it_had_not_published(pg_server_url: str, tmp_path, monkeypatch) -> None:
    """Upgrading to the separate pending list: rows not yet published stay pending, published ones do not, and
    every row written afterwards, by any connection, is pending."""
    before = tmp_path / "shared"
    before.mkdir()
    for f in sorted(db.SHARED_MIGRATIONS.glob("000[1-4]_*.sql")):
        (before / f.name).write_text(f.read_text())
    async with empty_database(pg_server_url, "upgrade") as url:
        monkeypatch.setattr(db, "SHARED_MIGRATIONS", before)
        await db.migrate(url, "awards", MIGRATIONS["awards"])
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                """INSERT INTO awards.outbox (event_id, topic, key, event_type, correlation_id, payload, published_at)
                   VALUES ($1, 't', 'k', 'E', 'c', '\\x00', now()), ($2, 't', 'k', 'E', 'c', '\\x00', NULL)""",
                uuid.uuid4(), pending := uuid.uuid4(),
            )
            monkeypatch.undo()
            await db.migrate(url, "awards", MIGRATIONS["awards"])
            query = "SELECT o.event_id FROM awards.outbox_pending p JOIN awards.outbox o USING (id)"
            assert [r["event_id"] for r in await conn.fetch(query)] == [pending]
            await conn.execute(
                "INSERT INTO awards.outbox (event_id, topic, key, event_type, correlation_id, payload)"
                " VALUES ($1, 't', 'k', 'E', 'c', '\\x00')", later := uuid.uuid4(),
            )
            assert {r["event_id"] for r in await conn.fetch(query)} == {pending, later}
        finally:
            await conn.close()
