"""All SQL of the notify service."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

_NOTIFY = "SELECT pg_notify('notify_mail_' || current_schema(), '')"
_CHANNEL = "SELECT 'notify_mail_' || current_schema()"

_ADD_NOTIFICATION = """
INSERT INTO notification (event_id, authority_id, event_type, payload) VALUES ($1, $2, $3, $4)
ON CONFLICT (event_id) DO NOTHING
"""
# Idempotent on either unique index: a grant seen before, or one that arrives while the authority still holds
# another current award (re-driven or re-ordered events), inserts nothing instead of failing the batch.
_GRANT = """
INSERT INTO holder (award_number, authority_id, case_id, awarded_at) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING
RETURNING award_number
"""
_IMPORT = """
INSERT INTO holder (award_number, authority_id, awarded_at, revoked_at, imported)
VALUES ($1, $2, $3, $4::date::timestamptz, true)
ON CONFLICT DO NOTHING
"""
_REVOKE = "UPDATE holder SET revoked_at = $2, revoke_reason = $3 WHERE award_number = $1 AND revoked_at IS NULL"

# The oldest due notification that has a contact, locked so that a second sender skips it.
_NEXT_DUE = """
SELECT n.event_id, n.authority_id, n.event_type, n.payload, n.attempts, n.created_at, c.email
FROM notification n JOIN contact c USING (authority_id)
WHERE n.status = 'pending' AND n.next_attempt_at <= now()
ORDER BY n.next_attempt_at, n.created_at
LIMIT 1
FOR UPDATE OF n SKIP LOCKED
"""
_NEXT_WAKE = """
SELECT min(n.next_attempt_at) FROM notification n JOIN contact c USING (authority_id) WHERE n.status = 'pending'
"""
_MARK_SENT = "UPDATE notification SET status = 'sent', attempts = attempts + 1, sent_at = now(), sent_to = $2, last_error = NULL WHERE event_id = $1"
_MARK_RETRY = """
UPDATE notification SET attempts = attempts + 1, last_error = $2, next_attempt_at = now() + $3 WHERE event_id = $1
"""
_MARK_FAILED = "UPDATE notification SET status = 'failed', attempts = attempts + 1, last_error = $2 WHERE event_id = $1"
_NOTIFICATIONS = """
SELECT n.event_id, n.authority_id, n.event_type, n.status, n.attempts, n.last_error, n.created_at, n.sent_at,
       n.sent_to, n.next_attempt_at, c.email IS NOT NULL AS has_contact, count(*) OVER () AS total
FROM notification n LEFT JOIN contact c USING (authority_id)
WHERE ($1::text IS NULL OR n.status = $1) AND ($2::text IS NULL OR n.authority_id = $2)
ORDER BY n.created_at DESC, n.event_id LIMIT $3 OFFSET $4
"""
_COUNT_NOTIFICATIONS = """
SELECT count(*) FROM notification n WHERE ($1::text IS NULL OR n.status = $1) AND ($2::text IS NULL OR n.authority_id = $2)
"""
_UPSERT_CONTACTS = """
INSERT INTO contact (authority_id, email) SELECT * FROM unnest($1::text[], $2::text[])
ON CONFLICT (authority_id) DO UPDATE SET email = excluded.email, updated_at = now()
"""
_RELEASE_WAITING = """
UPDATE notification SET next_attempt_at = now() WHERE status = 'pending' AND authority_id = ANY($1) AND attempts = 0
"""
_CURRENT_HOLDERS = """
SELECT award_number, authority_id, awarded_at FROM holder WHERE revoked_at IS NULL
ORDER BY awarded_at DESC, award_number DESC
"""
_HOLDER_OF = "SELECT award_number, awarded_at FROM holder WHERE authority_id = $1 AND revoked_at IS NULL"
_AWARD = "SELECT award_number, authority_id, awarded_at, revoked_at FROM holder WHERE award_number = $1"


async def wake_mailer(conn: asyncpg.Connection) -> None:
    await conn.execute(_NOTIFY)


async def mail_channel(conn: asyncpg.Connection) -> str:
    return await conn.fetchval(_CHANNEL)


async def add_notification(conn: asyncpg.Connection, event_id: UUID, authority_id: str, event_type: str, payload: dict[str, Any]) -> None:
    await conn.execute(_ADD_NOTIFICATION, event_id, authority_id, event_type, json.dumps(payload))


async def grant(conn: asyncpg.Connection, award_number: str, authority_id: str, case_id: UUID, awarded_at: date) -> bool:
    """Record a holder; False when nothing was stored (already known, or the authority holds another award)."""
    return await conn.fetchval(_GRANT, award_number, authority_id, case_id, awarded_at) is not None


async def import_holder(
    conn: asyncpg.Connection, award_number: str, authority_id: str, awarded_at: date, revoked_at: date | None
) -> None:
    """A holder from before the system, as awards imported it (idempotent)."""
    await conn.execute(_IMPORT, award_number, authority_id, awarded_at, revoked_at)


async def revoke(conn: asyncpg.Connection, award_number: str, at: datetime, reason: str) -> None:
    await conn.execute(_REVOKE, award_number, at, reason)


async def next_due(conn: asyncpg.Connection) -> dict[str, Any] | None:
    row = await conn.fetchrow(_NEXT_DUE)
    if row is None:
        return None
    return {**dict(row), "payload": json.loads(row["payload"])}


async def next_wake(conn: Conn) -> datetime | None:
    return await conn.fetchval(_NEXT_WAKE)


async def mark_sent(conn: asyncpg.Connection, event_id: UUID, email: str) -> None:
    await conn.execute(_MARK_SENT, event_id, email)


async def mark_retry(conn: asyncpg.Connection, event_id: UUID, error: str, retry_in: timedelta) -> None:
    await conn.execute(_MARK_RETRY, event_id, error, retry_in)


async def mark_failed(conn: asyncpg.Connection, event_id: UUID, error: str) -> None:
    await conn.execute(_MARK_FAILED, event_id, error)


async def notifications(
    conn: Conn, *, status: str | None, authority_id: str | None, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    rows = await conn.fetch(_NOTIFICATIONS, status, authority_id, limit, offset)
    total = rows[0]["total"] if rows else await conn.fetchval(_COUNT_NOTIFICATIONS, status, authority_id)
    return rows, total


async def upsert_contacts(conn: asyncpg.Connection, contacts: Sequence[tuple[str, str]]) -> None:
    await conn.execute(_UPSERT_CONTACTS, [c[0] for c in contacts], [c[1] for c in contacts])
    await conn.execute(_RELEASE_WAITING, [c[0] for c in contacts])


async def current_holders(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(_CURRENT_HOLDERS)


async def holder_of(conn: Conn, authority_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_HOLDER_OF, authority_id)


async def award(conn: Conn, award_number: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_AWARD, award_number)


# --- plaques ---------------------------------------------------------------------------------------------------

_ADD_PLAQUE = """
INSERT INTO plaque_request (award_number, authority_id, token_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
"""
_PLAQUE_COLUMNS = """
p.award_number, p.authority_id, p.requested_at, p.updated_at, p.recipient, p.street, p.postal_code, p.city,
p.contact_name, p.contact_email, p.contact_phone, p.shipped_on, p.shipped_by, h.revoked_at
"""
_PLAQUE_BY_TOKEN = f"""
SELECT {_PLAQUE_COLUMNS} FROM plaque_request p JOIN holder h USING (award_number) WHERE p.token_hash = $1
"""
_PLAQUE_FOR_UPDATE = f"""
SELECT {_PLAQUE_COLUMNS} FROM plaque_request p JOIN holder h USING (award_number) WHERE p.award_number = $1
FOR UPDATE OF p
"""
_SAVE_PLAQUE = """
UPDATE plaque_request SET recipient = $2, street = $3, postal_code = $4, city = $5, contact_name = $6,
    contact_email = $7, contact_phone = $8, requested_at = coalesce(requested_at, now()), updated_at = now()
WHERE award_number = $1 AND shipped_on IS NULL
RETURNING award_number
"""
_PLAQUES = f"""
SELECT {_PLAQUE_COLUMNS} FROM plaque_request p JOIN holder h USING (award_number)
WHERE p.requested_at IS NOT NULL AND ($1::boolean IS NULL OR (p.shipped_on IS NOT NULL) = $1)
ORDER BY p.requested_at
"""
_SHIPPED = """
UPDATE plaque_request SET shipped_on = $2, shipped_by = $3, updated_at = now()
WHERE award_number = $1 AND requested_at IS NOT NULL AND shipped_on IS NULL
RETURNING award_number
"""


async def add_plaque(conn: asyncpg.Connection, award_number: str, authority_id: str, token_hash: str) -> None:
    await conn.execute(_ADD_PLAQUE, award_number, authority_id, token_hash)


async def plaque_by_token(conn: Conn, token_hash: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_PLAQUE_BY_TOKEN, token_hash)


async def plaque_for_update(conn: asyncpg.Connection, award_number: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_PLAQUE_FOR_UPDATE, award_number)


async def save_plaque(conn: Conn, award_number: str, fields: dict[str, str | None]) -> bool:
    """Store the form; False once the plaque is shipped (then nothing changes)."""
    names = ("recipient", "street", "postal_code", "city", "contact_name", "contact_email", "contact_phone")
    return await conn.fetchval(_SAVE_PLAQUE, award_number, *(fields[n] for n in names)) is not None


async def plaques(conn: Conn, *, shipped: bool | None) -> list[asyncpg.Record]:
    return await conn.fetch(_PLAQUES, shipped)


async def mark_shipped(conn: asyncpg.Connection, award_number: str, on: date, by: str) -> bool:
    return await conn.fetchval(_SHIPPED, award_number, on, by) is not None


# --- the public side's read model ------------------------------------------------------------------------------

_REVIEW_OPENED = """
INSERT INTO open_review (authority_id, case_id, kind, opened_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (authority_id) DO UPDATE SET case_id = excluded.case_id, kind = excluded.kind, opened_at = excluded.opened_at
"""
_REVIEW_ENDED = "DELETE FROM open_review WHERE case_id = $1"
_OPEN_REVIEW = "SELECT kind, opened_at FROM open_review WHERE authority_id = $1"
_AWARDS_OF = """
SELECT award_number, awarded_at, revoked_at FROM holder WHERE authority_id = $1 ORDER BY awarded_at DESC
"""
_ALL_AWARDS = "SELECT authority_id, awarded_at, revoked_at::date AS revoked_on FROM holder"


async def review_opened(conn: asyncpg.Connection, authority_id: str, case_id: UUID, kind: str, at: datetime) -> None:
    await conn.execute(_REVIEW_OPENED, authority_id, case_id, kind, at)


async def review_ended(conn: asyncpg.Connection, case_id: UUID) -> None:
    await conn.execute(_REVIEW_ENDED, case_id)


async def open_review(conn: Conn, authority_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_OPEN_REVIEW, authority_id)


async def awards_of(conn: Conn, authority_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(_AWARDS_OF, authority_id)


async def all_awards(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(_ALL_AWARDS)
