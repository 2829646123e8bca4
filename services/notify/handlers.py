"""Notify's story: case events in; the listing updated and one email per event queued, in one transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg
import structlog

from services.notify import domain, plaque, repository
from shared.events import (
    AwardGranted,
    AwardImported,
    AwardKept,
    AwardRejected,
    AwardRevoked,
    CaseClosed,
    CaseOpened,
    Event,
)

log = structlog.get_logger(__name__)


class CaseStore(Protocol):
    """What the handler needs of its storage: `repository` in production, an in-memory fake in fast tests."""

    async def grant(self, conn: Any, award_number: str, authority_id: str, case_id: UUID, awarded_at: date) -> bool: ...
    async def revoke(self, conn: Any, award_number: str, at: datetime, reason: str) -> None: ...
    async def import_holder(
        self, conn: Any, award_number: str, authority_id: str, awarded_at: date, revoked_at: date | None
    ) -> None: ...
    async def review_opened(self, conn: Any, authority_id: str, case_id: UUID, kind: str, at: datetime) -> None: ...
    async def review_ended(self, conn: Any, case_id: UUID) -> None: ...
    async def add_plaque(self, conn: Any, award_number: str, authority_id: str, token_hash: str) -> None: ...
    async def add_notification(
        self, conn: Any, event_id: UUID, authority_id: str, event_type: str, payload: dict[str, Any]
    ) -> None: ...
    async def wake_mailer(self, conn: Any) -> None: ...


Apply = Callable[[asyncpg.Connection, Sequence[Event]], Awaitable[None]]


def on_case_events(store: CaseStore = repository) -> Apply:  # type: ignore[assignment]
    """The batch handler: the listing and the open reviews kept, one email queued per event that tells someone."""

    async def handle(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
        for e in events:
            if isinstance(e, AwardGranted):
                if not await store.grant(conn, e.award_number, e.authority_id, e.case_id, e.awarded_at):
                    log.info("holder_not_added", award_number=e.award_number, authority_id=e.authority_id,
                             why="already listed, or the authority holds another current award")
            elif isinstance(e, AwardRevoked):
                await store.revoke(conn, e.award_number, e.occurred_at, e.reason)
            elif isinstance(e, AwardImported):
                await store.import_holder(conn, e.award_number, e.authority_id, e.awarded_at, e.revoked_at)
            if isinstance(e, CaseOpened):
                await store.review_opened(conn, e.authority_id, e.case_id, e.kind, e.occurred_at)
            elif isinstance(e, AwardGranted | AwardRejected | AwardRevoked | AwardKept | CaseClosed):
                await store.review_ended(conn, e.case_id)
            payload = e.model_dump(mode="json")
            if isinstance(e, AwardGranted):  # the congratulation carries the holder's personal link to the plaque form
                token, token_hash = plaque.new_token()
                await store.add_plaque(conn, e.award_number, e.authority_id, token_hash)
                payload["plaque_token"] = token
            if e.event_type in domain.NOTIFIED_EVENTS:
                await store.add_notification(conn, e.event_id, e.authority_id, e.event_type, payload)
        await store.wake_mailer(conn)
        log.info("case_events_applied", events=len(events))

    return handle
