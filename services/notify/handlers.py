"""Notify's story: case events in; the listing updated and one email per event queued, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

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


async def on_case_events(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    for e in events:
        if isinstance(e, AwardGranted):
            if not await repository.grant(conn, e.award_number, e.authority_id, e.case_id, e.awarded_at):
                log.info("holder_not_added", award_number=e.award_number, authority_id=e.authority_id,
                         why="already listed, or the authority holds another current award")
        elif isinstance(e, AwardRevoked):
            await repository.revoke(conn, e.award_number, e.occurred_at, e.reason)
        elif isinstance(e, AwardImported):
            await repository.import_holder(conn, e.award_number, e.authority_id, e.awarded_at, e.revoked_at)
        if isinstance(e, CaseOpened):
            await repository.review_opened(conn, e.authority_id, e.case_id, e.kind, e.occurred_at)
        elif isinstance(e, AwardGranted | AwardRejected | AwardRevoked | AwardKept | CaseClosed):
            await repository.review_ended(conn, e.case_id)
        payload = e.model_dump(mode="json")
        if isinstance(e, AwardGranted):  # the congratulation carries the holder's personal link to the plaque form
            token, token_hash = plaque.new_token()
            await repository.add_plaque(conn, e.award_number, e.authority_id, token_hash)
            payload["plaque_token"] = token
        if e.event_type in domain.NOTIFIED_EVENTS:
            await repository.add_notification(conn, e.event_id, e.authority_id, e.event_type, payload)
    await repository.wake_mailer(conn)
    log.info("case_events_applied", events=len(events))
