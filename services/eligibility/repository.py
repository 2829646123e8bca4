"""All SQL of the eligibility service."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import asyncpg

from services.eligibility.domain import Link, LinkKey, Standing

_LOAD_LINKS = """
SELECT l.authority_id, l.procedure_id, l.linked, l.counted, l.occurred_at, l.change_id,
       l.name, l.scope, l.kind, l.linked_at
FROM procedure_link l
JOIN unnest($1::text[], $2::text[]) AS k(authority_id, procedure_id) USING (authority_id, procedure_id)
"""

# Missing standings are created at zero, then all touched ones are locked in key order. Two statements: the
# SELECT takes a fresh snapshot, so it sees a row a concurrent transaction created and committed while the
# INSERT waited for it (two consumers briefly sharing a partition in a rebalance serialise here).
_CREATE_STANDINGS = """
INSERT INTO authority_count (authority_id, count, threshold, eligible)
SELECT a, 0, t, false FROM unnest($1::text[], $2::int[]) AS u(a, t)
ON CONFLICT (authority_id) DO NOTHING
"""
_LOCK_STANDINGS = """
SELECT authority_id, count, threshold, eligible FROM authority_count
WHERE authority_id = ANY($1::text[]) ORDER BY authority_id FOR UPDATE
"""

_SAVE_LINKS = """
INSERT INTO procedure_link AS l
    (authority_id, procedure_id, linked, counted, occurred_at, change_id, name, scope, kind, linked_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::boolean[], $5::timestamptz[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::timestamptz[])
ON CONFLICT (authority_id, procedure_id) DO UPDATE
SET linked = excluded.linked, counted = excluded.counted, occurred_at = excluded.occurred_at,
    change_id = excluded.change_id, name = coalesce(excluded.name, l.name), scope = coalesce(excluded.scope, l.scope),
    kind = coalesce(excluded.kind, l.kind), linked_at = excluded.linked_at
"""

_SAVE_STANDINGS = """
INSERT INTO authority_count AS c (authority_id, count, threshold, eligible)
SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::boolean[])
ON CONFLICT (authority_id) DO UPDATE
SET count = excluded.count, threshold = excluded.threshold, eligible = excluded.eligible, updated_at = now()
"""

_RECOUNT_ALL = """
SELECT a.authority_id, coalesce(n.count, 0) AS count, a.threshold, a.eligible
FROM authority_count a
LEFT JOIN (SELECT authority_id, count(*)::int AS count FROM procedure_link WHERE linked AND counted
           GROUP BY authority_id) n USING (authority_id)
UNION ALL
SELECT n.authority_id, n.count, NULL, false
FROM (SELECT authority_id, count(*)::int AS count FROM procedure_link WHERE linked AND counted
      GROUP BY authority_id) n
WHERE NOT EXISTS (SELECT 1 FROM authority_count a WHERE a.authority_id = n.authority_id)
"""

_STANDING = "SELECT count, threshold, eligible FROM authority_count WHERE authority_id = $1"
_ALL_STANDINGS = "SELECT authority_id, count, threshold, eligible FROM authority_count"
_LINKED = """
SELECT procedure_id, name, scope, kind, counted, linked_at FROM procedure_link
WHERE authority_id = $1 AND linked ORDER BY linked_at, procedure_id
"""


async def load_links(conn: asyncpg.Connection, keys: Iterable[LinkKey]) -> dict[LinkKey, Link]:
    keys = list(keys)
    rows = await conn.fetch(_LOAD_LINKS, [k[0] for k in keys], [k[1] for k in keys])
    return {
        (r["authority_id"], r["procedure_id"]): Link(
            r["linked"], r["counted"], r["occurred_at"], r["change_id"], r["name"], r["scope"], r["kind"],
            r["linked_at"],
        )
        for r in rows
    }


async def lock_standings(conn: asyncpg.Connection, thresholds: Mapping[str, int]) -> dict[str, Standing]:
    """The touched authorities' standings, created at zero where new, locked for this transaction."""
    ids = sorted(thresholds)
    await conn.execute(_CREATE_STANDINGS, ids, [thresholds[a] for a in ids])
    rows = await conn.fetch(_LOCK_STANDINGS, ids)
    return {r["authority_id"]: Standing(r["count"], r["threshold"], r["eligible"]) for r in rows}


async def save_links(conn: asyncpg.Connection, links: Mapping[LinkKey, Link]) -> None:
    if not links:
        return
    items = list(links.items())
    await conn.execute(
        _SAVE_LINKS,
        [k[0] for k, _ in items],
        [k[1] for k, _ in items],
        [v.linked for _, v in items],
        [v.counted for _, v in items],
        [v.occurred_at for _, v in items],
        [v.change_id for _, v in items],
        [v.name for _, v in items],
        [v.scope for _, v in items],
        [v.kind for _, v in items],
        [v.linked_at for _, v in items],
    )


async def save_standings(conn: asyncpg.Connection, standings: Mapping[str, Standing]) -> None:
    if not standings:
        return
    items = sorted(standings.items())
    await conn.execute(
        _SAVE_STANDINGS,
        [k for k, _ in items],
        [s.count for _, s in items],
        [s.threshold for _, s in items],
        [s.eligible for _, s in items],
    )


async def recount_all(conn: asyncpg.Connection) -> dict[str, tuple[int, int | None, bool]]:
    """Every authority's count recomputed from its links, with its stored threshold and announced eligibility."""
    await conn.execute("LOCK TABLE authority_count IN EXCLUSIVE MODE")
    rows = await conn.fetch(_RECOUNT_ALL)
    return {r["authority_id"]: (r["count"], r["threshold"], r["eligible"]) for r in rows}


async def standing(conn: asyncpg.Connection | asyncpg.Pool, authority_id: str) -> Standing | None:
    r = await conn.fetchrow(_STANDING, authority_id)
    return Standing(r["count"], r["threshold"], r["eligible"]) if r else None


async def all_standings(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, Standing]:
    return {r["authority_id"]: Standing(r["count"], r["threshold"], r["eligible"]) for r in await conn.fetch(_ALL_STANDINGS)}


async def linked_procedures(conn: asyncpg.Connection | asyncpg.Pool, authority_id: str) -> Sequence[asyncpg.Record]:
    return await conn.fetch(_LINKED, authority_id)
