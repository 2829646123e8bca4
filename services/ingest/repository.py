"""All SQL of the ingest service."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg
import pydantic_core

from services.ingest.domain import Change, Transition

_INSERT_CHANGES = """
INSERT INTO portal_change (change_id, source, authority_id, procedure_id, action, occurred_at, procedure)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::jsonb[])
ON CONFLICT (change_id) DO NOTHING
RETURNING change_id
"""

# `old` reads the rows as they were before this statement; the upsert only takes a strictly newer change.
_APPLY_LINKS = """
WITH incoming AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::jsonb[], $5::timestamptz[], $6::text[])
        AS t(authority_id, procedure_id, linked, procedure, occurred_at, change_id)
), old AS (
    SELECT l.authority_id, l.procedure_id, l.linked, l.procedure
    FROM link_state l JOIN incoming i USING (authority_id, procedure_id)
), up AS (
    INSERT INTO link_state AS l (authority_id, procedure_id, linked, procedure, occurred_at, change_id)
    SELECT authority_id, procedure_id, linked, procedure, occurred_at, change_id FROM incoming
    ON CONFLICT (authority_id, procedure_id) DO UPDATE
        SET linked = excluded.linked,
            procedure = CASE WHEN excluded.linked THEN excluded.procedure ELSE l.procedure END,
            occurred_at = excluded.occurred_at,
            change_id = excluded.change_id,
            updated_at = now()
        WHERE (excluded.occurred_at, excluded.change_id) > (l.occurred_at, l.change_id)
    RETURNING authority_id, procedure_id, change_id
)
SELECT up.authority_id, up.procedure_id, up.change_id, old.linked AS was_linked, old.procedure AS old_procedure
FROM up LEFT JOIN old USING (authority_id, procedure_id)
"""

_LINKED_OF = """
SELECT procedure_id, procedure FROM link_state WHERE authority_id = $1 AND linked FOR UPDATE
"""


def _json(value: Any) -> str:
    return pydantic_core.to_json(value).decode()


async def insert_changes(conn: asyncpg.Connection, source: str, changes: Sequence[Change]) -> set[str]:
    """Store changes not seen before; returns the ids that are new."""
    rows = await conn.fetch(
        _INSERT_CHANGES,
        [c.change_id for c in changes],
        [source] * len(changes),
        [c.authority_id for c in changes],
        [c.key[1] for c in changes],
        [c.action for c in changes],
        [c.occurred_at for c in changes],
        [_json(c.procedure) for c in changes],
    )
    return {r["change_id"] for r in rows}


async def apply_links(conn: asyncpg.Connection, changes: Sequence[Change]) -> list[Transition]:
    """Apply the winning changes to the link view; returns the links that moved, with their previous state."""
    if not changes:
        return []
    rows = await conn.fetch(
        _APPLY_LINKS,
        [c.authority_id for c in changes],
        [c.key[1] for c in changes],
        [c.action == "linked" for c in changes],
        [_json(c.procedure) for c in changes],
        [c.occurred_at for c in changes],
        [c.change_id for c in changes],
    )
    by_id = {c.change_id: c for c in changes}
    return [
        Transition(
            by_id[r["change_id"]],
            bool(r["was_linked"]),
            json.loads(r["old_procedure"]) if r["old_procedure"] is not None else None,
        )
        for r in rows
    ]


async def linked_procedures(conn: asyncpg.Connection, authority_id: str) -> dict[str, dict[str, Any]]:
    rows = await conn.fetch(_LINKED_OF, authority_id)
    return {r["procedure_id"]: json.loads(r["procedure"]) for r in rows}


_LOCK_AUTHORITIES = """
SELECT pg_advisory_xact_lock(h)
FROM (SELECT DISTINCT hashtext('ingest.authority:' || a) AS h FROM unnest($1::text[]) a ORDER BY 1) s
"""


async def lock_authorities(conn: asyncpg.Connection, authority_ids: Sequence[str]) -> None:
    """Serialise concurrent feeds per authority (in a fixed order, so they cannot deadlock)."""
    await conn.execute(_LOCK_AUTHORITIES, list(authority_ids))


# --- PVOG / XZuFi --------------------------------------------------------------------------------------------

_UPSERT_SERVICES = """
INSERT INTO pvog_service AS s (agency, id, name, url)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
ON CONFLICT (agency, id) DO UPDATE SET name = excluded.name, url = excluded.url, updated_at = now()
    WHERE (s.name, s.url) IS DISTINCT FROM (excluded.name, excluded.url)
RETURNING agency, id
"""

_UPSERT_LEISTUNGEN = """
INSERT INTO pvog_leistung AS l (agency, id, name, leika_key)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
ON CONFLICT (agency, id) DO UPDATE SET name = excluded.name, leika_key = excluded.leika_key, updated_at = now()
    WHERE (l.name, l.leika_key) IS DISTINCT FROM (excluded.name, excluded.leika_key)
RETURNING agency, id
"""

# A re-sent Zustaendigkeit replaces all its regions: the old rows are deactivated, the new ones upserted.
_DEACTIVATE_TIES = """
UPDATE pvog_tie t SET active = false, updated_at = now()
FROM unnest($1::text[], $2::text[]) AS k(agency, id)
WHERE (t.agency, t.id) = (k.agency, k.id) AND t.active
RETURNING t.authority_id, t.procedure_id
"""

_UPSERT_TIES = """
INSERT INTO pvog_tie AS t (agency, id, region, service_agency, service_id, leistung_agency, leistung_id,
                           authority_id, procedure_id, active)
SELECT a, i, r, sa, si, la, li, au, p, true
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[]) AS u(a, i, r, sa, si, la, li, au, p)
ON CONFLICT (agency, id, region) DO UPDATE
SET service_agency = excluded.service_agency, service_id = excluded.service_id,
    leistung_agency = excluded.leistung_agency, leistung_id = excluded.leistung_id,
    authority_id = excluded.authority_id, procedure_id = excluded.procedure_id, active = true, updated_at = now()
"""

# Each key looked up on its index (LATERAL): a join of the keys' unnest with the table is planned from a guessed
# row count, and a generic plan that scans the table for every page makes the sync slow down as the table grows.
_TIES_OF_OBJECTS = """
SELECT t.authority_id, t.procedure_id FROM unnest($1::text[], $2::text[]) AS k(agency, id)
CROSS JOIN LATERAL (SELECT authority_id, procedure_id FROM pvog_tie
                    WHERE (service_agency, service_id) = (k.agency, k.id) AND active AND authority_id IS NOT NULL) t
UNION
SELECT t.authority_id, t.procedure_id FROM unnest($3::text[], $4::text[]) AS k(agency, id)
CROSS JOIN LATERAL (SELECT authority_id, procedure_id FROM pvog_tie
                    WHERE (leistung_agency, leistung_id) = (k.agency, k.id) AND active AND authority_id IS NOT NULL) t
"""

# For each link, the data of its first active tie (by tie id and region) whose service (and procedure, where
# named) is known.
_RESOLVED_LINKS = """
SELECT k.authority_id, k.procedure_id, r.service_name, r.url, r.leistung_name, r.leika_key
FROM unnest($1::text[], $2::text[]) AS k(authority_id, procedure_id)
CROSS JOIN LATERAL (
    SELECT s.name AS service_name, s.url, l.name AS leistung_name, l.leika_key
    FROM pvog_tie t
    JOIN pvog_service s ON (s.agency, s.id) = (t.service_agency, t.service_id)
    LEFT JOIN pvog_leistung l ON (l.agency, l.id) = (t.leistung_agency, t.leistung_id)
    WHERE (t.authority_id, t.procedure_id) = (k.authority_id, k.procedure_id) AND t.active
      AND (t.leistung_id IS NULL OR l.id IS NOT NULL)
    ORDER BY t.agency, t.id, t.region
    LIMIT 1
) r
"""

_CURSOR = "SELECT next_url, pages FROM pvog_cursor WHERE feed = $1"
_SAVE_CURSOR = """
INSERT INTO pvog_cursor (feed, next_url, pages) VALUES ($1, $2, $3)
ON CONFLICT (feed) DO UPDATE SET next_url = excluded.next_url, pages = excluded.pages, updated_at = now()
"""
_SYNC_LOCK = "SELECT pg_try_advisory_lock(hashtext('ingest.pvog:' || $1))"
_SYNC_UNLOCK = "SELECT pg_advisory_unlock(hashtext('ingest.pvog:' || $1))"

Key = tuple[str, str]


def _pairs(rows: Sequence[asyncpg.Record], a: str, b: str) -> set[Key]:
    return {(r[a], r[b]) for r in rows if r[a] is not None}


async def _upsert_objects(conn: asyncpg.Connection, sql: str, rows: Sequence[tuple[str, str, str | None, str | None]]) -> set[Key]:
    if not rows:
        return set()
    return _pairs(await conn.fetch(sql, *map(list, zip(*rows, strict=True))), "agency", "id")


async def upsert_services(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, str | None, str | None]]) -> set[Key]:
    """Store Onlinedienste (agency, id, name, url); returns the keys that are new or changed."""
    return await _upsert_objects(conn, _UPSERT_SERVICES, rows)


async def upsert_leistungen(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, str | None, str | None]]) -> set[Key]:
    """Store Leistungen (agency, id, name, LeiKa key); returns the keys that are new or changed."""
    return await _upsert_objects(conn, _UPSERT_LEISTUNGEN, rows)


async def deactivate_ties(conn: asyncpg.Connection, ids: Sequence[Key]) -> set[Key]:
    """Deactivate every region of these Zustaendigkeiten; returns the links they held."""
    if not ids:
        return set()
    rows = await conn.fetch(_DEACTIVATE_TIES, [i[0] for i in ids], [i[1] for i in ids])
    return _pairs(rows, "authority_id", "procedure_id")


async def upsert_ties(conn: asyncpg.Connection, rows: Sequence[tuple[str, ...]]) -> None:
    if rows:
        await conn.execute(_UPSERT_TIES, *map(list, zip(*rows, strict=True)))


async def links_of_objects(conn: asyncpg.Connection, services: set[Key], leistungen: set[Key]) -> set[Key]:
    s, le = sorted(services), sorted(leistungen)
    rows = await conn.fetch(_TIES_OF_OBJECTS, [k[0] for k in s], [k[1] for k in s], [k[0] for k in le], [k[1] for k in le])
    return _pairs(rows, "authority_id", "procedure_id")


async def resolved_links(conn: asyncpg.Connection, keys: set[Key]) -> dict[Key, asyncpg.Record]:
    ordered = sorted(keys)
    rows = await conn.fetch(_RESOLVED_LINKS, [k[0] for k in ordered], [k[1] for k in ordered])
    return {(r["authority_id"], r["procedure_id"]): r for r in rows}


async def pvog_cursor(conn: asyncpg.Connection | asyncpg.Pool, feed: str) -> tuple[str, int] | None:
    row = await conn.fetchrow(_CURSOR, feed)
    return (row["next_url"], row["pages"]) if row else None


async def save_pvog_cursor(conn: asyncpg.Connection, feed: str, next_url: str, pages: int) -> None:
    await conn.execute(_SAVE_CURSOR, feed, next_url, pages)


async def try_lock_pvog(conn: asyncpg.Connection, feed: str) -> bool:
    return bool(await conn.fetchval(_SYNC_LOCK, feed))


async def unlock_pvog(conn: asyncpg.Connection, feed: str) -> None:
    await conn.execute(_SYNC_UNLOCK, feed)
