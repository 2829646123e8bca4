"""Eligibility's stories: link events in, counts and threshold crossings out, one transaction per batch."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

import asyncpg
import structlog
from prometheus_client import Counter

from services.eligibility import domain, repository
from services.eligibility.domain import Crossing, Link, LinkChange, LinkKey, Standing
from shared import outbox
from shared.authorities import registry
from shared.events import Event, ProcedureLinked, ProcedureUnlinked, ThresholdCrossed, ThresholdLost
from shared.events.portal_fast import FastLinked, FastUnlinked
from shared.settings import Settings

log = structlog.get_logger(__name__)

CROSSINGS = Counter("eligibility_crossings_total", "threshold events written", ["direction"])


class LinkStore(Protocol):
    """What the handler needs of its storage: `repository` in production, an in-memory fake in fast tests."""

    async def lock_standings(self, conn: Any, authority_ids: Collection[str]) -> dict[str, Standing]: ...
    async def load_links(self, conn: Any, keys: Iterable[LinkKey]) -> dict[LinkKey, Link]: ...
    async def save_links(self, conn: Any, links: Mapping[LinkKey, Link]) -> None: ...
    async def save_standings(self, conn: Any, standings: Mapping[str, Standing]) -> None: ...


Publish = Callable[[Any, Sequence[Event]], Awaitable[None]]  # events into the outbox, in the caller's transaction


def threshold_of(settings: Settings) -> Callable[[str], int]:
    """Each authority's threshold, looked up in a table built once from the reference list."""
    default, bezirk = settings.threshold_default, settings.threshold_bezirk
    table = {a.key: domain.threshold_for(a.kind, default, bezirk) for a in registry()}
    fallback = domain.threshold_for("default", default, bezirk)

    def of(authority_id: str) -> int:
        return table.get(authority_id, fallback)

    return of


def to_change(e: ProcedureLinked | ProcedureUnlinked | FastLinked | FastUnlinked) -> LinkChange:
    p = e.procedure
    if e.event_type == "ProcedureLinked":
        return LinkChange(
            e.event_id, e.correlation_id, e.authority_id, p.id, True, e.occurred_at, e.change_id, p.name, p.scope, p.kind,
            p.url,
        )
    return LinkChange(e.event_id, e.correlation_id, e.authority_id, p.id, False, e.occurred_at, e.change_id)


def crossing_event(c: Crossing) -> ThresholdCrossed | ThresholdLost:
    cls = ThresholdCrossed if c.direction == "crossed" else ThresholdLost
    return cls(
        event_id=c.event_id,
        authority_id=c.authority_id,
        correlation_id=c.correlation_id,
        count=c.count,
        threshold=c.threshold,
        sequence=c.sequence,
    )


def on_procedure_links(  # noqa: ANN201
    settings: Settings, store: LinkStore = repository, publish: Publish = outbox.enqueue  # type: ignore[assignment]
):
    """The batch handler: load touched links and standings, apply in order, save, announce crossings."""
    threshold = threshold_of(settings)

    async def handle(conn: asyncpg.Connection, events: Sequence[ProcedureLinked | ProcedureUnlinked]) -> None:
        changes = [to_change(e) for e in events]
        # Authorities locked first: a second consumer of the same authorities (a rebalance) waits here, before it
        # reads links that this transaction is about to change.
        standings = await store.lock_standings(conn, {c.authority_id for c in changes})
        links = await store.load_links(conn, {c.key for c in changes})
        outcome = domain.apply_changes(links, standings, changes, threshold)
        await store.save_links(conn, outcome.links)
        await store.save_standings(conn, outcome.standings)
        await publish(conn, [crossing_event(c) for c in outcome.crossings])
        for c in outcome.crossings:
            CROSSINGS.labels(c.direction).inc()
            log.info("threshold_" + c.direction, authority_id=c.authority_id, count=c.count, threshold=c.threshold)

    return handle


async def rebuild(pool: asyncpg.Pool, settings: Settings) -> list[Crossing]:
    """Recount every authority from its links and announce where the result differs from the last announcement."""
    threshold = threshold_of(settings)
    run = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        recounted = await repository.recount_all(conn)
        standings: dict[str, domain.Standing] = {}
        crossings: list[Crossing] = []
        for authority_id, (count, _, announced_eligible, announced) in sorted(recounted.items()):
            s = domain.Standing(count, threshold(authority_id), announced_eligible, announced)
            cause = f"rebuild:{run}:{authority_id}"
            s, crossing = domain.announce(authority_id, s, cause, "rebuild")
            standings[authority_id] = s
            crossings += [crossing] if crossing else []
        await repository.save_standings(conn, standings)
        await outbox.enqueue(conn, [crossing_event(c) for c in crossings])
    log.info("rebuild_done", authorities=len(standings), crossings=len(crossings))
    return crossings
