"""All SQL of the eligibility service."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import asyncpg
import pydantic_core

from services.eligibility.domain import Link, LinkKey, Standing

_LOAD_LINKS = """
SELECT l.authority_id, l.procedure_id, l.linked, l.counted, l.occurred_at, l.change_id,
       l.name, l.scope, l.kind, l.linked_at, l.url
FROM procedure_link l
JOIN json_to_recordset($1::json) AS k(authority_id text, procedure_id text) USING (authority_id, procedure_id)
"""

# Each touched authority is locked (in a fixed order, so two transactions cannot deadlock) before its links and
# count are read, in statements of their own: a second consumer of the same authorities (two members briefly
# sharing a partition in a rebalance) waits here and then reads what the first committed. Advisory locks cost
# no row writes; the shared rebuild lock lets `rebuild` (exclusive) wait for every running batch.
_LOCK_AUTHORITIES = """
SELECT pg_advisory_xact_lock_shared(hashtext('eligibility.rebuild')),
       (SELECT count(pg_advisory_xact_lock(h))
        FROM (SELECT DISTINCT hashtext('eligibility.authority:' || a) AS h FROM unnest($1::text[]) a ORDER BY 1) s)
"""
_LOCK_REBUILD = "SELECT pg_advisory_xact_lock(hashtext('eligibility.rebuild'))"
_STANDINGS_OF = """
SELECT authority_id, count, threshold, announced_eligible, announced FROM authority_count WHERE authority_id = ANY($1::text[])
"""

# Rows are sent as one JSON document: building it costs Python a third of what ten binary arrays of thousands of
# elements do (asyncpg inspects every element), and the Python process, not PostgreSQL, bounds a batch.
_SAVE_LINKS = """
INSERT INTO procedure_link AS l
    (authority_id, procedure_id, linked, counted, occurred_at, change_id, name, scope, kind, linked_at, url)
SELECT * FROM json_to_recordset($1::json) AS t(
    a text, p text, l boolean, c boolean, o timestamptz, i text, n text, s text, k text, f timestamptz, u text)
ON CONFLICT (authority_id, procedure_id) DO UPDATE
SET linked = excluded.linked, counted = excluded.counted, occurred_at = excluded.occurred_at,
    change_id = excluded.change_id, name = coalesce(excluded.name, l.name), scope = coalesce(excluded.scope, l.scope),
    kind = coalesce(excluded.kind, l.kind), linked_at = excluded.linked_at, url = coalesce(excluded.url, l.url)
"""

_SAVE_STANDINGS = """
INSERT INTO authority_count AS c (authority_id, count, threshold, announced_eligible, announced)
SELECT * FROM json_to_recordset($1::json) AS r(a text, n int, t int, e boolean, s int)
ON CONFLICT (authority_id) DO UPDATE
SET count = excluded.count, threshold = excluded.threshold, announced_eligible = excluded.announced_eligible,
    announced = excluded.announced, updated_at = now()
"""

_RECOUNT_ALL = """
SELECT a.authority_id, coalesce(n.count, 0) AS count, a.threshold, a.announced_eligible, a.announced
FROM authority_count a
LEFT JOIN (SELECT authority_id, count(*)::int AS count FROM procedure_link WHERE linked AND counted
           GROUP BY authority_id) n USING (authority_id)
UNION ALL
SELECT n.authority_id, n.count, NULL, false, 0
FROM (SELECT authority_id, count(*)::int AS count FROM procedure_link WHERE linked AND counted
      GROUP BY authority_id) n
WHERE NOT EXISTS (SELECT 1 FROM authority_count a WHERE a.authority_id = n.authority_id)
"""

_STANDING = "SELECT count, threshold, announced_eligible, announced FROM authority_count WHERE authority_id = $1"
_ALL_STANDINGS = "SELECT authority_id, count, threshold, announced_eligible, announced FROM authority_count"
_LINKED = """
SELECT procedure_id, name, scope, kind, counted, linked_at, url FROM procedure_link
WHERE authority_id = $1 AND linked ORDER BY linked_at, procedure_id
"""
# What the peers count that the authority does not: set-based, ranked by how many peers link it.
_ADVICE = """
SELECT l.procedure_id, max(l.name) AS name, max(l.scope) AS scope, count(*)::int AS peers_linking
FROM procedure_link l
WHERE l.authority_id = ANY($2::text[]) AND l.linked AND l.counted
  AND NOT EXISTS (SELECT 1 FROM procedure_link o
                  WHERE o.authority_id = $1 AND o.procedure_id = l.procedure_id AND o.linked AND o.counted)
GROUP BY l.procedure_id
ORDER BY peers_linking DESC, l.procedure_id
LIMIT $3
"""


async def load_links(conn: asyncpg.Connection, keys: Iterable[LinkKey]) -> dict[LinkKey, Link]:
    rows = await conn.fetch(_LOAD_LINKS, _json([{"authority_id": a, "procedure_id": p} for a, p in keys]))
    return {
        (r["authority_id"], r["procedure_id"]): Link(
            r["linked"], r["counted"], r["occurred_at"], r["change_id"], r["name"], r["scope"], r["kind"],
            r["linked_at"], r["url"],
        )
        for r in rows
    }


async def lock_standings(conn: asyncpg.Connection, authority_ids: Collection[str]) -> dict[str, Standing]:
    """Lock the authorities for this transaction, then read their standings (none yet for a new authority)."""
    ids = list(authority_ids)
    await conn.execute(_LOCK_AUTHORITIES, ids)
    rows = await conn.fetch(_STANDINGS_OF, ids)
    return {r["authority_id"]: _standing(r) for r in rows}


async def save_links(conn: asyncpg.Connection, links: Mapping[LinkKey, Link]) -> None:
    if not links:
        return
    rows = [
        {"a": a, "p": p, "l": v.linked, "c": v.counted, "o": v.occurred_at, "i": v.change_id, "n": v.name,
         "s": v.scope, "k": v.kind, "f": v.linked_at, "u": v.url}
        for (a, p), v in links.items()
    ]
    await conn.execute(_SAVE_LINKS, _json(rows))


async def save_standings(conn: asyncpg.Connection, standings: Mapping[str, Standing]) -> None:
    if not standings:
        return
    rows = [
        {"a": a, "n": s.count, "t": s.threshold, "e": s.announced_eligible, "s": s.announced} for a, s in sorted(standings.items())
    ]
    await conn.execute(_SAVE_STANDINGS, _json(rows))


def _json(rows: list[dict[str, Any]]) -> str:
    return pydantic_core.to_json(rows).decode()


async def recount_all(conn: asyncpg.Connection) -> dict[str, tuple[int, int | None, bool, int]]:
    """Every authority's count recomputed from its links, with its stored threshold, announced eligibility and
    the number of threshold events announced so far."""
    await conn.execute(_LOCK_REBUILD)
    rows = await conn.fetch(_RECOUNT_ALL)
    return {r["authority_id"]: (r["count"], r["threshold"], r["announced_eligible"], r["announced"]) for r in rows}


async def standing(conn: asyncpg.Connection | asyncpg.Pool, authority_id: str) -> Standing | None:
    r = await conn.fetchrow(_STANDING, authority_id)
    return _standing(r) if r else None


async def all_standings(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, Standing]:
    return {r["authority_id"]: _standing(r) for r in await conn.fetch(_ALL_STANDINGS)}


def _standing(r: asyncpg.Record) -> Standing:
    return Standing(r["count"], r["threshold"], r["announced_eligible"], r["announced"])


async def linked_procedures(conn: asyncpg.Connection | asyncpg.Pool, authority_id: str) -> Sequence[asyncpg.Record]:
    return await conn.fetch(_LINKED, authority_id)


async def advice(conn: asyncpg.Connection | asyncpg.Pool, authority_id: str, peers: Sequence[str], limit: int) -> Sequence[asyncpg.Record]:
    return await conn.fetch(_ADVICE, authority_id, list(peers), limit)
