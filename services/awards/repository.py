"""All SQL of the awards service."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.awards.domain import Case, Grace, Standing

Conn = asyncpg.Connection | asyncpg.Pool

_LOCK_AUTHORITY = "SELECT pg_advisory_xact_lock(hashtext('awards.authority:' || $1))"

# Only a newer threshold event moves the standing: by its sequence number where both carry one, else by time.
_SAVE_COUNT = """
INSERT INTO authority_standing AS s (authority_id, count, threshold, eligible, sequence, as_of)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (authority_id) DO UPDATE
SET count = excluded.count, threshold = excluded.threshold, eligible = excluded.eligible,
    sequence = coalesce(excluded.sequence, s.sequence), as_of = excluded.as_of, updated_at = now()
WHERE CASE WHEN excluded.sequence IS NOT NULL AND s.sequence IS NOT NULL THEN excluded.sequence > s.sequence
           ELSE excluded.as_of >= s.as_of END
RETURNING authority_id
"""
# Everything awards knows of one authority, for the rules.
_STANDING = """
SELECT s.count, s.threshold, s.eligible, s.probation, s.rereview_due_at, s.grace_until, s.grace_below,
       s.grace_recovered_noticed,
       (SELECT w.award_number FROM award w WHERE w.authority_id = $1 AND w.revoked_at IS NULL) AS award_number,
       c.case_id AS undecided_case, c.kind AS undecided_kind
FROM (SELECT $1::text AS authority_id) a
LEFT JOIN authority_standing s USING (authority_id)
LEFT JOIN review_case c ON c.authority_id = a.authority_id AND c.status IN ('open', 'claimed')
"""
_SAVE_TIMERS = """
INSERT INTO authority_standing AS s (authority_id, count, threshold, eligible, probation, rereview_due_at, grace_until,
                                     grace_below, grace_recovered_noticed)
VALUES ($1, 0, 0, false, $2, $3, $4, $5, $6)
ON CONFLICT (authority_id) DO UPDATE
SET probation = excluded.probation, rereview_due_at = excluded.rereview_due_at, grace_until = excluded.grace_until,
    grace_below = excluded.grace_below, grace_recovered_noticed = excluded.grace_recovered_noticed, updated_at = now()
"""
_DUE = """
SELECT authority_id FROM authority_standing
WHERE rereview_due_at <= $1 OR grace_until <= $1
ORDER BY least(rereview_due_at, grace_until) LIMIT $2
"""

_OPEN_CASE = """
INSERT INTO review_case (case_id, authority_id, kind, status, count, award_number, opened_at)
VALUES ($1, $2, $3, 'open', $4, $5, $6)
ON CONFLICT DO NOTHING
RETURNING case_id
"""
_CLOSE_CASE = """
UPDATE review_case SET status = 'closed', reason = $2, decided_at = $3, claimed_by = NULL
WHERE case_id = $1 AND status IN ('open', 'claimed')
RETURNING case_id
"""
_ADD_ACTION = "INSERT INTO case_action (case_id, action, actor, reason, count, at) VALUES ($1, $2, $3, $4, $5, $6)"

_CASE_COLUMNS = """
c.case_id, c.authority_id, c.kind, c.status, c.count,
coalesce(c.award_number, (SELECT w.award_number FROM award w WHERE w.case_id = c.case_id)) AS award_number, c.opened_at,
c.claimed_by, c.claimed_at, c.decision, c.reason, c.decided_by, c.decided_at, c.procedures_at_opening, c.evidence_at,
s.count AS current_count, s.threshold, s.eligible
"""
_CASE = f"""
SELECT {_CASE_COLUMNS} FROM review_case c LEFT JOIN authority_standing s USING (authority_id) WHERE c.case_id = $1
"""
_CASE_FOR_UPDATE = "SELECT * FROM review_case WHERE case_id = $1 FOR UPDATE"
# The case an email was about, else the authority's latest case (an email about a holder's grace period has none).
_CASE_ABOUT = """
SELECT case_id FROM review_case
WHERE authority_id = $1 AND ($2::uuid IS NULL OR case_id = $2)
ORDER BY opened_at DESC
LIMIT 1
"""
_ACTIONS = "SELECT action, actor, reason, count, at FROM case_action WHERE case_id = $1 ORDER BY id"
_FILTER = """
WHERE ($1::text IS NULL OR c.status = $1) AND ($2::text IS NULL OR c.kind = $2)
  AND ($3::text[] IS NULL OR c.authority_id = ANY($3)) AND ($6::text IS NULL OR c.claimed_by = $6)
"""
# The page and the total in one statement, so that they describe the same moment.
_LIST = f"""
SELECT {_CASE_COLUMNS}, count(*) OVER () AS total FROM review_case c LEFT JOIN authority_standing s USING (authority_id)
{_FILTER} ORDER BY c.opened_at DESC, c.case_id LIMIT $4 OFFSET $5
"""
_COUNT = f"SELECT count(*) FROM review_case c {_FILTER.replace('$6', '$4')}"
_CLAIMED_BY_REVIEWER = """
SELECT claimed_by AS reviewer, count(*) AS cases FROM review_case WHERE status = 'claimed' GROUP BY claimed_by ORDER BY 1
"""
_WITHOUT_EVIDENCE = """
SELECT case_id, authority_id FROM review_case WHERE procedures_at_opening IS NULL ORDER BY opened_at LIMIT $1
"""
_SAVE_EVIDENCE = """
UPDATE review_case SET procedures_at_opening = $2::jsonb, evidence_at = $3 WHERE case_id = $1 AND procedures_at_opening IS NULL
"""

# The conditions are the database's: of two concurrent claims or decisions, exactly one updates the row.
_CLAIM = """
UPDATE review_case SET status = 'claimed', claimed_by = $2, claimed_at = $3
WHERE case_id = $1 AND status = 'open'
RETURNING case_id
"""
_ASSIGN = """
UPDATE review_case SET status = 'claimed', claimed_by = $2, claimed_at = $3
WHERE case_id = $1 AND status IN ('open', 'claimed')
RETURNING case_id
"""
_RELEASE = """
UPDATE review_case SET status = 'open', claimed_by = NULL, claimed_at = NULL
WHERE case_id = $1 AND status = 'claimed'
RETURNING case_id
"""
_RELEASE_ALL_OF = """
UPDATE review_case SET status = 'open', claimed_by = NULL, claimed_at = NULL
WHERE status = 'claimed' AND claimed_by = $1
RETURNING case_id
"""
_DECIDE = """
UPDATE review_case SET status = 'decided', decision = $3, reason = $4, decided_by = $2, decided_at = $5
WHERE case_id = $1 AND status = 'claimed' AND claimed_by = $2
RETURNING case_id
"""
_NEXT_NUMBER = """
INSERT INTO award_counter (year, last) VALUES ($1, 1)
ON CONFLICT (year) DO UPDATE SET last = award_counter.last + 1
RETURNING last
"""
_RAISE_COUNTER = """
INSERT INTO award_counter AS c (year, last) SELECT * FROM unnest($1::int[], $2::int[])
ON CONFLICT (year) DO UPDATE SET last = greatest(c.last, excluded.last)
"""
_GRANT = "INSERT INTO award (award_number, authority_id, case_id, awarded_at) VALUES ($1, $2, $3, $4)"
_REVOKE = """
UPDATE award SET revoked_at = $2, revoked_case_id = $3 WHERE award_number = $1 AND revoked_at IS NULL
"""
_IMPORT = """
INSERT INTO award (award_number, authority_id, awarded_at, revoked_at, revoked_on, imported)
SELECT n, a, d, r::timestamptz, r, true FROM unnest($1::text[], $2::text[], $3::date[], $4::date[]) AS u(n, a, d, r)
ON CONFLICT (award_number) DO NOTHING
RETURNING award_number
"""
_AWARDS_OF = "SELECT award_number, authority_id, awarded_at, revoked_at, imported FROM award WHERE award_number = ANY($1)"
_CURRENT_HOLDERS_OF = """
SELECT authority_id, award_number FROM award WHERE revoked_at IS NULL AND authority_id = ANY($1)
"""
_AWARDS = """
SELECT award_number, authority_id, awarded_at, revoked_at FROM award ORDER BY awarded_at DESC, award_number DESC
"""

_ADD_REVIEWER = """
INSERT INTO reviewer (name, token_hash, lead) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING name
"""
_REVIEWERS = "SELECT name, lead, created_at, revoked_at FROM reviewer ORDER BY name"
_REVOKE_REVIEWER = "UPDATE reviewer SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING name"
_REVIEWER_BY_HASH = "SELECT name, token_hash, lead FROM reviewer WHERE token_hash = $1 AND revoked_at IS NULL"
_ACTIVE_REVIEWER = "SELECT lead FROM reviewer WHERE name = $1 AND revoked_at IS NULL"


async def lock_authority(conn: asyncpg.Connection, authority_id: str) -> None:
    """Threshold events, timers and reviewers' actions on one authority take turns."""
    await conn.execute(_LOCK_AUTHORITY, authority_id)


async def save_count(
    conn: asyncpg.Connection, authority_id: str, count: int, threshold: int, eligible: bool, sequence: int | None,
    as_of: datetime,
) -> bool:
    """Store the count a threshold event announces; False (nothing stored) if a newer one is already there."""
    return await conn.fetchval(_SAVE_COUNT, authority_id, count, threshold, eligible, sequence, as_of) is not None


async def standing(conn: Conn, authority_id: str) -> Standing:
    r = await conn.fetchrow(_STANDING, authority_id)
    assert r is not None
    grace = Grace(r["grace_until"], r["grace_below"], r["grace_recovered_noticed"]) if r["grace_until"] else None
    return Standing(
        eligible=bool(r["eligible"]), count=r["count"] or 0, threshold=r["threshold"] or 0,
        award_number=r["award_number"], undecided_case=r["undecided_case"], undecided_kind=r["undecided_kind"],
        probation=bool(r["probation"]), rereview_due=r["rereview_due_at"], grace=grace,
    )


async def save_timers(conn: asyncpg.Connection, authority_id: str, s: Standing) -> None:
    g = s.grace
    await conn.execute(
        _SAVE_TIMERS, authority_id, s.probation, s.rereview_due, g.until if g else None, bool(g and g.below),
        bool(g and g.recovered_noticed),
    )


async def due(conn: Conn, now: datetime, limit: int = 100) -> list[str]:
    """Authorities with a timer that has run out."""
    return [r["authority_id"] for r in await conn.fetch(_DUE, now, limit)]


async def open_case(
    conn: asyncpg.Connection, case_id: UUID, authority_id: str, kind: str, count: int, award_number: str | None,
    at: datetime,
) -> bool:
    return await conn.fetchval(_OPEN_CASE, case_id, authority_id, kind, count, award_number, at) is not None


async def close_case(conn: asyncpg.Connection, case_id: UUID, reason: str, at: datetime) -> bool:
    return await conn.fetchval(_CLOSE_CASE, case_id, reason, at) is not None


async def add_action(
    conn: asyncpg.Connection, case_id: UUID, action: str, actor: str, at: datetime, *, reason: str | None = None,
    count: int | None = None,
) -> None:
    await conn.execute(_ADD_ACTION, case_id, action, actor, reason, count, at)


async def case(conn: Conn, case_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(_CASE, case_id)


async def case_for_update(conn: asyncpg.Connection, case_id: UUID) -> Case | None:
    r = await conn.fetchrow(_CASE_FOR_UPDATE, case_id)
    return Case(r["kind"], r["status"], r["claimed_by"]) if r else None


async def case_row_for_update(conn: asyncpg.Connection, case_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(_CASE_FOR_UPDATE, case_id)


async def case_about(conn: Conn, authority_id: str, case_id: UUID | None) -> UUID | None:
    found = await conn.fetchval(_CASE_ABOUT, authority_id, case_id)
    if found is None and case_id is not None:  # a case of another authority, or none: the latest of this one
        found = await conn.fetchval(_CASE_ABOUT, authority_id, None)
    return found


async def actions(conn: Conn, case_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(_ACTIONS, case_id)


async def list_cases(
    conn: Conn, *, status: str | None, kind: str | None, authority_ids: Sequence[str] | None, claimed_by: str | None,
    limit: int, offset: int,
) -> tuple[list[asyncpg.Record], int]:
    ids = list(authority_ids) if authority_ids is not None else None
    rows = await conn.fetch(_LIST, status, kind, ids, limit, offset, claimed_by)
    total = rows[0]["total"] if rows else await conn.fetchval(_COUNT, status, kind, ids, claimed_by)
    return rows, total


async def claimed_by_reviewer(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(_CLAIMED_BY_REVIEWER)


async def without_evidence(conn: Conn, limit: int = 20) -> list[asyncpg.Record]:
    return await conn.fetch(_WITHOUT_EVIDENCE, limit)


async def save_evidence(conn: Conn, case_id: UUID, procedures: list[dict[str, Any]], at: datetime) -> None:
    await conn.execute(_SAVE_EVIDENCE, case_id, json.dumps(procedures), at)


async def claim(conn: asyncpg.Connection, case_id: UUID, reviewer: str, at: datetime) -> bool:
    return await conn.fetchval(_CLAIM, case_id, reviewer, at) is not None


async def assign(conn: asyncpg.Connection, case_id: UUID, reviewer: str, at: datetime) -> bool:
    return await conn.fetchval(_ASSIGN, case_id, reviewer, at) is not None


async def release(conn: asyncpg.Connection, case_id: UUID) -> bool:
    return await conn.fetchval(_RELEASE, case_id) is not None


async def release_all_of(conn: asyncpg.Connection, reviewer: str) -> list[UUID]:
    return [r["case_id"] for r in await conn.fetch(_RELEASE_ALL_OF, reviewer)]


async def decide(
    conn: asyncpg.Connection, case_id: UUID, reviewer: str, decision: str, reason: str | None, at: datetime
) -> bool:
    return await conn.fetchval(_DECIDE, case_id, reviewer, decision, reason, at) is not None


async def next_award_seq(conn: asyncpg.Connection, year: int) -> int:
    return await conn.fetchval(_NEXT_NUMBER, year)


async def grant(conn: asyncpg.Connection, award_number: str, authority_id: str, case_id: UUID, day: date) -> None:
    await conn.execute(_GRANT, award_number, authority_id, case_id, day)


async def revoke(conn: asyncpg.Connection, award_number: str, at: datetime, case_id: UUID) -> None:
    await conn.execute(_REVOKE, award_number, at, case_id)


async def awards_with_numbers(conn: Conn, numbers: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(_AWARDS_OF, list(numbers))


async def current_holders(conn: Conn, authority_ids: Sequence[str]) -> dict[str, str]:
    return {r["authority_id"]: r["award_number"] for r in await conn.fetch(_CURRENT_HOLDERS_OF, list(authority_ids))}


async def import_awards(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, date, date | None]]) -> set[str]:
    """Existing holders (award number, authority, award date, revocation date or None); returns the numbers new."""
    inserted = await conn.fetch(
        _IMPORT, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]
    )
    return {r["award_number"] for r in inserted}


async def raise_counters(conn: asyncpg.Connection, last_by_year: dict[int, int]) -> None:
    """New numbers of a year continue after the highest imported one."""
    years = sorted(last_by_year)
    await conn.execute(_RAISE_COUNTER, years, [last_by_year[y] for y in years])


async def awards(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(_AWARDS)


async def add_reviewer(conn: Conn, name: str, token_hash: str, *, lead: bool = False) -> bool:
    return await conn.fetchval(_ADD_REVIEWER, name, token_hash, lead) is not None


async def reviewers(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(_REVIEWERS)


async def revoke_reviewer(conn: Conn, name: str) -> bool:
    return await conn.fetchval(_REVOKE_REVIEWER, name) is not None


async def reviewer_by_hash(conn: Conn, token_hash: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_REVIEWER_BY_HASH, token_hash)


async def active_reviewer(conn: Conn, name: str) -> bool | None:
    """None if there is no active reviewer of that name, else whether they lead."""
    return await conn.fetchval(_ACTIVE_REVIEWER, name)
