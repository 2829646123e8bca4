"""Awards' stories: threshold events open and mark cases; reviewers claim and decide them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import structlog
from prometheus_client import Counter

from services.awards import domain, repository
from services.awards.domain import Refusal, Situation
from shared import outbox
from shared.events import (
    AwardGranted,
    AwardKept,
    AwardRejected,
    AwardRevoked,
    CaseOpened,
    Event,
    ThresholdCrossed,
    ThresholdLost,
    log_fields,
)

log = structlog.get_logger(__name__)

CASES_OPENED = Counter("awards_cases_opened_total", "review cases opened", ["kind"])
DECISIONS = Counter("awards_decisions_total", "decisions recorded", ["decision"])
SYSTEM = "system"


class CaseRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


async def on_thresholds(conn: asyncpg.Connection, events: Sequence[ThresholdCrossed | ThresholdLost]) -> None:
    """Each threshold event, in order: remember the count, then open, mark or leave the authority's case."""
    for event in events:
        with structlog.contextvars.bound_contextvars(**log_fields(event)):
            await _on_threshold(conn, event)


async def _on_threshold(conn: asyncpg.Connection, e: ThresholdCrossed | ThresholdLost) -> None:
    crossed = isinstance(e, ThresholdCrossed)
    await repository.lock_authority(conn, e.authority_id)
    if not await repository.save_standing(conn, e.authority_id, e.count, e.threshold, crossed, e.sequence, e.occurred_at):
        log.info("threshold_event_stale", sequence=e.sequence, count=e.count)
        return
    award_number = await repository.current_award(conn, e.authority_id)
    undecided = await repository.undecided_case(conn, e.authority_id)
    situation = Situation(award_number is not None, undecided["kind"] if undecided else None)
    plan = domain.on_crossed(situation) if crossed else domain.on_lost(situation)
    now = datetime.now(UTC)
    if plan == "note_on_case":
        assert undecided is not None
        action = "count_back_at_threshold" if crossed else "count_below_threshold"
        await repository.add_action(conn, undecided["case_id"], action, SYSTEM, now, count=e.count)
        log.info("case_noted", case_id=str(undecided["case_id"]), action=action, count=e.count)
    elif plan in ("open_award", "open_revocation"):
        kind = "award" if plan == "open_award" else "revocation"
        case_id = domain.case_id_for(e.event_id)
        if await repository.open_case(conn, case_id, e.authority_id, kind, e.count, award_number, now):
            await repository.add_action(conn, case_id, "opened", SYSTEM, now, count=e.count)
            await outbox.enqueue(conn, [
                CaseOpened(authority_id=e.authority_id, correlation_id=e.correlation_id, case_id=case_id, kind=kind, count=e.count)
            ])
            CASES_OPENED.labels(kind).inc()
            log.info("case_opened", case_id=str(case_id), kind=kind, count=e.count)


@dataclass(frozen=True)
class DecisionIn:
    decision: str
    reason: str | None


async def claim_case(pool: asyncpg.Pool, case_id: UUID, reviewer: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        case = await repository.case_for_update(conn, case_id)
        if case is None:
            raise CaseRefused(Refusal(404, None, "no such case"))
        if refusal := domain.refuse_claim(case["status"], case["claimed_by"], reviewer):
            raise CaseRefused(refusal)
        if case["status"] == "claimed":
            return
        now = datetime.now(UTC)
        if not await repository.claim(conn, case_id, reviewer, now):
            raise CaseRefused(Refusal(409, None, "the case was claimed by another reviewer"))
        await repository.add_action(conn, case_id, "claimed", reviewer, now)
    log.info("case_claimed", case_id=str(case_id), reviewer=reviewer)


async def decide_case(pool: asyncpg.Pool, case_id: UUID, reviewer: str, decision: DecisionIn) -> None:
    """Record the decision, the award or its revocation, and its event, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        found = await repository.case(conn, case_id)
        if found is None:
            raise CaseRefused(Refusal(404, None, "no such case"))
        await repository.lock_authority(conn, found["authority_id"])
        case = await repository.case_for_update(conn, case_id)
        standing = await repository.standing(conn, case["authority_id"])
        refusal = domain.refuse_decision(
            kind=case["kind"], status=case["status"], claimed_by=case["claimed_by"], reviewer=reviewer,
            decision=decision.decision, reason=decision.reason, eligible=bool(standing and standing["eligible"]),
        )
        if refusal:
            raise CaseRefused(refusal)
        now = datetime.now(UTC)
        reason = (decision.reason or "").strip() or None
        if not await repository.decide(conn, case_id, reviewer, decision.decision, reason, now):
            raise CaseRefused(Refusal(409, None, "the case was decided concurrently"))
        await repository.add_action(conn, case_id, decision.decision, reviewer, now, reason=reason)
        event = await _consequence(conn, case, reviewer, decision.decision, reason, now)
        await outbox.enqueue(conn, [event])
    DECISIONS.labels(decision.decision).inc()
    log.info("case_decided", case_id=str(case_id), decision=decision.decision, reviewer=reviewer,
             authority_id=case["authority_id"])


async def _consequence(
    conn: asyncpg.Connection, case: asyncpg.Record, reviewer: str, decision: str, reason: str | None, now: datetime
) -> Event:
    common = {"authority_id": case["authority_id"], "correlation_id": str(case["case_id"]), "case_id": case["case_id"]}
    if decision == "approve":
        day = now.date()
        number = domain.award_number(day, await repository.next_award_seq(conn, day.year))
        await repository.grant(conn, number, case["authority_id"], case["case_id"], day)
        return AwardGranted(**common, award_number=number, awarded_at=day, reviewer=reviewer)
    if decision == "reject":
        return AwardRejected(**common, reason=reason or "", reviewer=reviewer)
    if decision == "revoke":
        await repository.revoke(conn, case["award_number"], now, case["case_id"])
        return AwardRevoked(**common, award_number=case["award_number"], reason=reason or "", reviewer=reviewer)
    return AwardKept(**common, award_number=case["award_number"], reviewer=reviewer)
