"""Migrations apply to an empty database, and applying them again changes nothing."""

from __future__ import annotations

import uuid

import asyncpg

from shared import db
from tests.conftest import MIGRATIONS


async def test_migrations_apply_to_an_empty_database_twice(pg_server_url: str) -> None:
    url = db.with_database(pg_server_url, f"da_test_empty_{uuid.uuid4().hex[:8]}")
    await db.ensure_database(url)
    try:
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
    finally:
        admin = await asyncpg.connect(db.with_database(pg_server_url, "postgres"))
        await admin.execute(f'DROP DATABASE "{db.database_name(url)}" WITH (FORCE)')
        await admin.close()


async def test_concurrent_starts_migrate_once(pg_server_url: str) -> None:
    import asyncio

    url = db.with_database(pg_server_url, f"da_test_race_{uuid.uuid4().hex[:8]}")
    await db.ensure_database(url)
    try:
        await asyncio.gather(*(db.migrate(url, "ingest", MIGRATIONS["ingest"]) for _ in range(4)))
        conn = await asyncpg.connect(url)
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM ingest.schema_migrations")]
        await conn.close()
        assert len(versions) == len(set(versions)) >= 3
    finally:
        admin = await asyncpg.connect(db.with_database(pg_server_url, "postgres"))
        await admin.execute(f'DROP DATABASE "{db.database_name(url)}" WITH (FORCE)')
        await admin.close()
