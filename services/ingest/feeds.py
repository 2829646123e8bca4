"""Ingest's stories: a batch of portal changes or a snapshot in, link events out, in one transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from prometheus_client import Counter

from services.ingest import domain, repository
from services.ingest.domain import Change, Transition
from shared import outbox
from shared.events import Event, ProcedureLinked, ProcedureUnlinked

log = structlog.get_logger(__name__)

CHANGES = Counter("ingest_changes_total", "portal changes received", ["source", "outcome"])
LINK_EVENTS = Counter("ingest_link_events_total", "link events written to the outbox", ["event_type"])


def event_for(t: Transition, correlation_id: str) -> Event | None:
    action = domain.emits(t)
    if action is None:
        return None
    c = t.change
    # Validated in pydantic-core from plain data: as fast as `model_construct` on nested models, and checked.
    common: dict[str, Any] = {
        "event_id": domain.event_id_for(c.change_id, action),
        "event_version": 1,
        "occurred_at": c.occurred_at.astimezone(UTC),
        "authority_id": c.authority_id,
        "correlation_id": correlation_id,
        "change_id": c.change_id,
    }
    if action == "linked":
        return ProcedureLinked.model_validate({**common, "procedure": c.procedure})
    return ProcedureUnlinked.model_validate({**common, "procedure": {"id": c.key[1]}})


async def apply_in_tx(conn: asyncpg.Connection, source: str, changes: Sequence[Change], correlation_id: str) -> tuple[
    int, list[Event]
]:
    first: dict[str, Change] = {}
    for c in changes:
        first.setdefault(c.change_id, c)
    unique = list(first.values())
    new_ids = await repository.insert_changes(conn, source, unique)
    fresh = [c for c in unique if c.change_id in new_ids]
    # Locked only now, and only the authorities of new changes: push batches touching the same authorities wait for
    # each other only while they apply, not while they record. (A snapshot locks its authority before it records;
    # only a push reusing one of its change ids could then wait on it crosswise, which PostgreSQL ends as a
    # deadlock, rolled back whole and answered 503.)
    await repository.lock_authorities(conn, sorted({c.authority_id for c in fresh}))
    transitions = await repository.apply_links(conn, domain.latest_per_link(fresh))
    events = [e for t in transitions if (e := event_for(t, correlation_id)) is not None]
    await outbox.enqueue(conn, events)
    return len(new_ids), events


async def accept_changes(
    pool: asyncpg.Pool, changes: Sequence[Change], *, source: str, correlation_id: str
) -> tuple[int, int]:
    """Store a validated batch all or nothing; returns (accepted, duplicates)."""
    async with pool.acquire() as conn, conn.transaction():
        accepted, events = await apply_in_tx(conn, source, changes, correlation_id)
    duplicates = len(changes) - accepted
    CHANGES.labels(source, "accepted").inc(accepted)
    CHANGES.labels(source, "duplicate").inc(duplicates)
    _count(events)
    log.info("changes_accepted", source=source, accepted=accepted, duplicates=duplicates, events=len(events))
    return accepted, duplicates


def _snapshot_change(authority_id: str, as_of: datetime, action: str, procedure: dict[str, Any]) -> Change:
    digest = hashlib.sha256(json.dumps(procedure, sort_keys=True).encode()).hexdigest()[:16]
    change_id = f"snapshot:{authority_id}:{as_of.isoformat()}:{procedure['id']}:{action}:{digest}"
    return Change(change_id, as_of, action, authority_id, procedure)  # type: ignore[arg-type]


async def apply_snapshot(
    pool: asyncpg.Pool,
    authority_id: str,
    as_of: datetime,
    procedures: Sequence[dict[str, Any]],
    *,
    correlation_id: str,
) -> tuple[int, int]:
    """Make ingest's view of one authority equal to the portal's full list; returns (linked, unlinked) emitted."""
    async with pool.acquire() as conn, conn.transaction():
        await repository.lock_authorities(conn, [authority_id])
        current = await repository.linked_procedures(conn, authority_id)
        links, unlinks = domain.snapshot_diff(current, {p["id"]: p for p in procedures})
        changes = [_snapshot_change(authority_id, as_of, "linked", dict(p)) for p in links]
        changes += [_snapshot_change(authority_id, as_of, "unlinked", {"id": pid}) for pid in unlinks]
        _, events = await apply_in_tx(conn, "snapshot", changes, correlation_id)
    _count(events)
    linked = sum(isinstance(e, ProcedureLinked) for e in events)
    log.info("snapshot_applied", authority_id=authority_id, linked=linked, unlinked=len(events) - linked)
    return linked, len(events) - linked


def _count(events: Sequence[Event]) -> None:
    for e in events:
        LINK_EVENTS.labels(e.event_type).inc()
