"""All SQL of the ingest service."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

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
        [json.dumps(dict(c.procedure)) for c in changes],
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
        [json.dumps(dict(c.procedure)) for c in changes],
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
