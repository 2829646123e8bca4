"""Awards' stories: threshold events and timers open, note and close cases; reviewers claim, hand over, decide.

Each story locks the authority, loads what awards knows of it, asks one rule of `domain`, and writes the outcome
(state, case, history, events to the outbox) in one transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4, uuid5

import asyncpg
import structlog
from prometheus_client import Counter

from services.awards import domain, repository
from services.awards.domain import Conflict, NotFound, Plan, Policy, Standing
from shared import outbox
from shared.events import (
    AwardGranted,
    AwardKept,
    AwardRejected,
    AwardRevoked,
    CaseClosed,
    CaseOpened,
    Event,
    GracePeriodEnded,
    GracePeriodStarted,
    NotificationUndeliverable,
    ThresholdCrossed,
    ThresholdLost,
    log_fields,
)
from shared.settings import Settings

log = structlog.get_logger(__name__)

CASES_OPENED = Counter("awards_cases_opened_total", "review cases opened", ["kind"])
CASES_CLOSED = Counter("awards_cases_closed_total", "review cases closed without a decision", ["kind"])
DECISIONS = Counter("awards_decisions_total", "decisions recorded", ["decision"])
SYSTEM = "system"
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def policy_of(settings: Settings) -> Policy:
    return Policy(timedelta(days=settings.rereview_after_days), timedelta(days=settings.revocation_grace_days))


@dataclass(frozen=True)
class Cause:
    """What set a story off: its id makes the case and event ids of a replay the same, its correlation ties them."""

    id: str
    correlation_id: str


def _event_id(cause: Cause, what: str) -> UUID:
    return uuid5(domain.case_id_for(cause.id), what)


async def carry_out(conn: asyncpg.Connection, authority_id: str, before: Standing, plan: Plan, cause: Cause,
                    now: datetime, actor: str = SYSTEM) -> list[Event]:
    """Write what a rule decided: timers, the case opened, noted or closed, the announcements."""
    s = plan.standing
    await repository.save_timers(conn, authority_id, s)
    events: list[Event] = []
    common = {"authority_id": authority_id, "correlation_id": cause.correlation_id}
    if plan.note and before.undecided_case:
        await repository.add_action(conn, before.undecided_case, plan.note, SYSTEM, now, count=s.count)
    if plan.close_case and before.undecided_case and before.undecided_kind:
        if await repository.close_case(conn, before.undecided_case, plan.close_case, now):
            await repository.add_action(conn, before.undecided_case, "closed", SYSTEM, now, reason=plan.close_case,
                                        count=s.count)
            events.append(CaseClosed(**common, event_id=_event_id(cause, "closed"), case_id=before.undecided_case,
                                     kind=before.undecided_kind, count=s.count, reason=plan.close_case))
            CASES_CLOSED.labels(before.undecided_kind).inc()
    if plan.open_case:
        case_id = domain.case_id_for(cause.id)
        if await repository.open_case(conn, case_id, authority_id, plan.open_case, s.count, s.award_number, now):
            await repository.add_action(conn, case_id, "opened", actor, now, count=s.count)
            events.append(CaseOpened(**common, event_id=_event_id(cause, "opened"), case_id=case_id,
                                     kind=plan.open_case, count=s.count))
            CASES_OPENED.labels(plan.open_case).inc()
            log.info("case_opened", case_id=str(case_id), kind=plan.open_case, count=s.count)
    for what in plan.announce:
        assert s.grace is not None and s.award_number is not None
        facts = {"award_number": s.award_number, "deadline": domain.berlin_day(s.grace.until), "count": s.count,
                 "threshold": s.threshold}
        if what == "grace_started":
            events.append(GracePeriodStarted(**common, **facts, event_id=_event_id(cause, what),
                                             deadline_at=s.grace.until))
        else:
            events.append(GracePeriodEnded(**common, **facts, event_id=_event_id(cause, what)))
        log.info(what, deadline=str(facts["deadline"]), count=s.count)
    await outbox.enqueue(conn, events)
    return events


def on_thresholds(settings: Settings, clock: Clock = utcnow):  # noqa: ANN201 - the consumer's batch handler
    """Each threshold event, in order: remember the count (a stale event changes nothing), then apply the rule."""
    policy = policy_of(settings)

    async def handle(conn: asyncpg.Connection, events: Sequence[ThresholdCrossed | ThresholdLost]) -> None:
        for e in events:
            with structlog.contextvars.bound_contextvars(**log_fields(e)):
                await _on_threshold(conn, e, policy, clock())

    return handle


async def _on_threshold(conn: asyncpg.Connection, e: ThresholdCrossed | ThresholdLost, policy: Policy,
                        now: datetime) -> None:
    crossed = isinstance(e, ThresholdCrossed)
    await repository.lock_authority(conn, e.authority_id)
    if not await repository.save_count(conn, e.authority_id, e.count, e.threshold, crossed, e.sequence, e.occurred_at):
        log.info("threshold_event_stale", sequence=e.sequence, count=e.count)
        return
    s = await repository.standing(conn, e.authority_id)
    plan = domain.on_crossed(s, now, policy) if crossed else domain.on_lost(s, now, policy)
    await carry_out(conn, e.authority_id, s, plan, Cause(str(e.event_id), e.correlation_id), now)


async def on_undeliverable(conn: asyncpg.Connection, events: Sequence[NotificationUndeliverable]) -> None:
    """An email notify could not deliver goes into the history of the case it was about, for the reviewers."""
    for e in events:
        case_id = await repository.case_about(conn, e.authority_id, e.case_id)
        if case_id is None:
            log.info("undeliverable_without_case", **log_fields(e), notification_type=e.notification_type)
            continue
        reason = f"E-Mail „{e.notification_type}“ nicht zugestellt ({e.attempts} Versuche): {e.error}"[:2_000]
        await repository.add_action(conn, case_id, "mail_undeliverable", "notify", e.occurred_at, reason=reason)
        log.warning("email_undeliverable_noted", **log_fields(e), case_id=str(case_id))


async def run_due_timers(pool: asyncpg.Pool, clock: Clock = utcnow) -> int:
    """Every timer that has run out (re-review after probation, end of a grace period); returns how many ran."""
    now = clock()
    ran = 0
    for authority_id in await repository.due(pool, now):
        async with pool.acquire() as conn, conn.transaction():
            await repository.lock_authority(conn, authority_id)
            s = await repository.standing(conn, authority_id)
            due_at = min(t for t in (s.rereview_due, s.grace.until if s.grace else None) if t is not None)
            if due_at > now:
                continue  # another instance ran it
            cause = Cause(f"timer:{authority_id}:{due_at.isoformat()}", f"timer:{authority_id}")
            await carry_out(conn, authority_id, s, domain.on_time(s, now), cause, now)
            ran += 1
    return ran


async def open_by_hand(pool: asyncpg.Pool, authority_id: str, reviewer: str, known: bool, clock: Clock = utcnow) -> UUID:
    """A reviewer opens an award case for an eligible authority without a case or an award."""
    now = clock()
    async with pool.acquire() as conn, conn.transaction():
        await repository.lock_authority(conn, authority_id)
        s = await repository.standing(conn, authority_id)
        domain.may_open_by_hand(s, known)
        cause = Cause(f"by_hand:{uuid4()}", f"by_hand:{reviewer}")
        plan = Plan(dataclasses.replace(s, probation=False, rereview_due=None), open_case="award")
        await carry_out(conn, authority_id, s, plan, cause, now, actor=reviewer)
    return domain.case_id_for(cause.id)


async def claim_case(pool: asyncpg.Pool, case_id: UUID, reviewer: str, clock: Clock = utcnow) -> None:
    async with pool.acquire() as conn, conn.transaction():
        case = await _case(conn, case_id)
        domain.refuse_claim(case, reviewer)
        if case.status == "claimed":
            return
        now = clock()
        if not await repository.claim(conn, case_id, reviewer, now):
            raise Conflict("Der Fall wurde soeben von jemand anderem übernommen.")
        await repository.add_action(conn, case_id, "claimed", reviewer, now)
    log.info("case_claimed", case_id=str(case_id), reviewer=reviewer)


async def release_case(pool: asyncpg.Pool, case_id: UUID, reviewer: str, lead: bool, clock: Clock = utcnow) -> None:
    """The claimant or a lead returns a case to the queue."""
    async with pool.acquire() as conn, conn.transaction():
        case = await _case(conn, case_id)
        domain.refuse_release(case, reviewer, lead)
        now = clock()
        await repository.release(conn, case_id)
        note = None if case.claimed_by == reviewer else f"von {case.claimed_by} zurückgenommen"
        await repository.add_action(conn, case_id, "released", reviewer, now, reason=note)
    log.info("case_released", case_id=str(case_id), reviewer=reviewer)


async def assign_case(pool: asyncpg.Pool, case_id: UUID, lead_name: str, lead: bool, assignee: str,
                      clock: Clock = utcnow) -> None:
    async with pool.acquire() as conn, conn.transaction():
        case = await _case(conn, case_id)
        domain.refuse_assign(case, lead, await repository.active_reviewer(conn, assignee) is not None)
        now = clock()
        await repository.assign(conn, case_id, assignee, now)
        await repository.add_action(conn, case_id, "assigned", lead_name, now, reason=f"an {assignee}")
    log.info("case_assigned", case_id=str(case_id), lead=lead_name, reviewer=assignee)


async def revoke_reviewer(pool: asyncpg.Pool, name: str, clock: Clock = utcnow) -> list[UUID] | None:
    """Revoke a reviewer's token and return their claimed cases to the queue; None if there is no such reviewer."""
    async with pool.acquire() as conn, conn.transaction():
        if not await repository.revoke_reviewer(conn, name):
            return None
        now = clock()
        released = await repository.release_all_of(conn, name)
        for case_id in released:
            await repository.add_action(conn, case_id, "released", SYSTEM, now, reason=f"Zugang von {name} widerrufen")
    log.info("reviewer_revoked", reviewer=name, cases_released=len(released))
    return released


@dataclass(frozen=True)
class DecisionIn:
    decision: str
    reason: str | None


async def decide_case(pool: asyncpg.Pool, case_id: UUID, reviewer: str, decision: DecisionIn, settings: Settings,
                      clock: Clock = utcnow) -> None:
    """Record the decision, the award or its revocation, and its event, in one transaction."""
    policy = policy_of(settings)
    async with pool.acquire() as conn, conn.transaction():
        found = await repository.case(conn, case_id)
        if found is None:
            raise NotFound("Diesen Fall gibt es nicht.")
        authority_id = found["authority_id"]
        await repository.lock_authority(conn, authority_id)
        row = await repository.case_row_for_update(conn, case_id)
        assert row is not None
        s = await repository.standing(conn, authority_id)
        domain.refuse_decision(domain.Case(row["kind"], row["status"], row["claimed_by"]), reviewer,
                               decision.decision, decision.reason, s.eligible)
        now = clock()
        reason = (decision.reason or "").strip() or None
        if not await repository.decide(conn, case_id, reviewer, decision.decision, reason, now):
            raise Conflict("Der Fall wurde soeben anders entschieden.")
        await repository.add_action(conn, case_id, decision.decision, reviewer, now, reason=reason)
        after = domain.on_decided(s, decision.decision, now, policy)
        await repository.save_timers(conn, authority_id, after)
        event = await _consequence(conn, row, reviewer, decision.decision, reason, now, after, settings)
        await outbox.enqueue(conn, [event])
    DECISIONS.labels(decision.decision).inc()
    log.info("case_decided", case_id=str(case_id), decision=decision.decision, reviewer=reviewer,
             authority_id=authority_id)


async def _consequence(conn: asyncpg.Connection, case: asyncpg.Record, reviewer: str, decision: str, reason: str | None,
                       now: datetime, after: Standing, settings: Settings) -> Event:
    common = {"authority_id": case["authority_id"], "correlation_id": str(case["case_id"]), "case_id": case["case_id"]}
    if decision == "approve":
        day = domain.berlin_day(now)
        number = domain.award_number(day, await repository.next_award_seq(conn, day.year))
        await repository.grant(conn, number, case["authority_id"], case["case_id"], day)
        return AwardGranted(**common, award_number=number, awarded_at=day, reviewer=reviewer)
    if decision == "reject":
        rereview_on = domain.berlin_day(after.rereview_due) if after.rereview_due else None
        return AwardRejected(**common, reason=reason or "", reviewer=reviewer, rereview_on=rereview_on,
                             rereview_after_days=settings.rereview_after_days, threshold=after.threshold or None)
    if decision == "revoke":
        await repository.revoke(conn, case["award_number"], now, case["case_id"])
        return AwardRevoked(**common, award_number=case["award_number"], reason=reason or "", reviewer=reviewer)
    return AwardKept(**common, award_number=case["award_number"], reviewer=reviewer)


async def _case(conn: asyncpg.Connection, case_id: UUID) -> domain.Case:
    case = await repository.case_for_update(conn, case_id)
    if case is None:
        raise NotFound("Diesen Fall gibt es nicht.")
    return case
