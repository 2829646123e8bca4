"""All SQL of the awards service."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

_LOCK_AUTHORITY = "SELECT pg_advisory_xact_lock(hashtext('awards.authority:' || $1))"

# Only a newer threshold event moves the standing: by its sequence number where both carry one, else by time.
_SAVE_STANDING = """
INSERT INTO authority_standing AS s (authority_id, count, threshold, eligible, sequence, as_of)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (authority_id) DO UPDATE
SET count = excluded.count, threshold = excluded.threshold, eligible = excluded.eligible,
    sequence = coalesce(excluded.sequence, s.sequence), as_of = excluded.as_of, updated_at = now()
WHERE CASE WHEN excluded.sequence IS NOT NULL AND s.sequence IS NOT NULL THEN excluded.sequence > s.sequence
           ELSE excluded.as_of >= s.as_of END
RETURNING authority_id
"""
_STANDING = "SELECT count, threshold, eligible FROM authority_standing WHERE authority_id = $1"
_STANDINGS = "SELECT authority_id, count, threshold, eligible FROM authority_standing WHERE authority_id = ANY($1)"
_CURRENT_AWARD = "SELECT award_number FROM award WHERE authority_id = $1 AND revoked_at IS NULL"
_UNDECIDED = "SELECT case_id, kind FROM review_case WHERE authority_id = $1 AND status <> 'decided' FOR UPDATE"

_OPEN_CASE = """
INSERT INTO review_case (case_id, authority_id, kind, status, count, award_number, opened_at)
VALUES ($1, $2, $3, 'open', $4, $5, $6)
ON CONFLICT DO NOTHING
RETURNING case_id
"""
_ADD_ACTION = "INSERT INTO case_action (case_id, action, actor, reason, count, at) VALUES ($1, $2, $3, $4, $5, $6)"

_CASE_COLUMNS = """
c.case_id, c.authority_id, c.kind, c.status, c.count,
coalesce(c.award_number, (SELECT w.award_number FROM award w WHERE w.case_id = c.case_id)) AS award_number, c.opened_at, c.claimed_by, c.claimed_at,
c.decision, c.reason, c.decided_by, c.decided_at, s.count AS current_count, s.threshold, s.eligible
"""
_CASE = f"""
SELECT {_CASE_COLUMNS} FROM review_case c LEFT JOIN authority_standing s USING (authority_id) WHERE c.case_id = $1
"""
_CASE_FOR_UPDATE = "SELECT * FROM review_case WHERE case_id = $1 FOR UPDATE"
_ACTIONS = "SELECT action, actor, reason, count, at FROM case_action WHERE case_id = $1 ORDER BY id"
_FILTER = """
WHERE ($1::text IS NULL OR c.status = $1) AND ($2::text IS NULL OR c.kind = $2)
  AND ($3::text IS NULL OR c.authority_id = $3)
"""
# The page and the total in one statement, so that they describe the same moment.
_LIST = f"""
SELECT {_CASE_COLUMNS}, count(*) OVER () AS total FROM review_case c LEFT JOIN authority_standing s USING (authority_id)
{_FILTER} ORDER BY c.opened_at DESC, c.case_id LIMIT $4 OFFSET $5
"""
_COUNT = f"SELECT count(*) FROM review_case c {_FILTER}"

# The conditions are the database's: of two concurrent claims or decisions, exactly one updates the row.
_CLAIM = """
UPDATE review_case SET status = 'claimed', claimed_by = $2, claimed_at = $3
WHERE case_id = $1 AND status = 'open'
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
_GRANT = "INSERT INTO award (award_number, authority_id, case_id, awarded_at) VALUES ($1, $2, $3, $4)"
_REVOKE = """
UPDATE award SET revoked_at = $2, revoked_case_id = $3 WHERE award_number = $1 AND revoked_at IS NULL
"""
_AWARDS = """
SELECT award_number, authority_id, awarded_at, revoked_at FROM award ORDER BY awarded_at DESC, award_number DESC
"""

_ADD_REVIEWER = "INSERT INTO reviewer (name, token_hash) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING name"
_REVIEWERS = "SELECT name, created_at, revoked_at FROM reviewer ORDER BY name"
_REVOKE_REVIEWER = "UPDATE reviewer SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING name"
_REVIEWER_BY_HASH = "SELECT name, token_hash FROM reviewer WHERE token_hash = $1 AND revoked_at IS NULL"


async def lock_authority(conn: asyncpg.Connection, authority_id: str) -> None:
    """Threshold events and reviewers' decisions on one authority take turns."""
    await conn.execute(_LOCK_AUTHORITY, authority_id)


async def save_standing(
    conn: asyncpg.Connection, authority_id: str, count: int, threshold: int, eligible: bool, sequence: int | None,
    as_of: datetime,
) -> bool:
    """Store the standing a threshold event announces; False (nothing stored) if a newer one is already there."""
    return await conn.fetchval(_SAVE_STANDING, authority_id, count, threshold, eligible, sequence, as_of) is not None


async def standing(conn: Conn, authority_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_STANDING, authority_id)


async def current_award(conn: Conn, authority_id: str) -> str | None:
    return await conn.fetchval(_CURRENT_AWARD, authority_id)


async def undecided_case(conn: asyncpg.Connection, authority_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_UNDECIDED, authority_id)


async def open_case(
    conn: asyncpg.Connection, case_id: UUID, authority_id: str, kind: str, count: int, award_number: str | None,
    at: datetime,
) -> bool:
    return await conn.fetchval(_OPEN_CASE, case_id, authority_id, kind, count, award_number, at) is not None


async def add_action(
    conn: asyncpg.Connection, case_id: UUID, action: str, actor: str, at: datetime, *, reason: str | None = None,
    count: int | None = None,
) -> None:
    await conn.execute(_ADD_ACTION, case_id, action, actor, reason, count, at)


async def case(conn: Conn, case_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(_CASE, case_id)


async def case_for_update(conn: asyncpg.Connection, case_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(_CASE_FOR_UPDATE, case_id)


async def actions(conn: Conn, case_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(_ACTIONS, case_id)


async def list_cases(
    conn: Conn, *, status: str | None, kind: str | None, authority_id: str | None, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    rows = await conn.fetch(_LIST, status, kind, authority_id, limit, offset)
    total = rows[0]["total"] if rows else await conn.fetchval(_COUNT, status, kind, authority_id)
    return rows, total


async def claim(conn: asyncpg.Connection, case_id: UUID, reviewer: str, at: datetime) -> bool:
    return await conn.fetchval(_CLAIM, case_id, reviewer, at) is not None


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


async def awards(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(_AWARDS)


async def add_reviewer(conn: Conn, name: str, token_hash: str) -> bool:
    return await conn.fetchval(_ADD_REVIEWER, name, token_hash) is not None


async def reviewers(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(_REVIEWERS)


async def revoke_reviewer(conn: Conn, name: str) -> bool:
    return await conn.fetchval(_REVOKE_REVIEWER, name) is not None


async def reviewer_by_hash(conn: Conn, token_hash: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_REVIEWER_BY_HASH, token_hash)


def as_dict(record: asyncpg.Record | None) -> dict[str, Any] | None:
    return dict(record) if record is not None else None
