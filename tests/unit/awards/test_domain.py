"""Awards' rules on plain data: the life of an award, who may act on a case, numbers and dates."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.awards import domain
from services.awards.domain import (
    Case,
    Conflict,
    Grace,
    Invalid,
    NotFound,
    Policy,
    Standing,
    award_number,
    berlin_day,
    case_id_for,
    on_crossed,
    on_decided,
    on_lost,
    on_time,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
POLICY = Policy(rereview_after=timedelta(days=90), grace=timedelta(days=60))
ELIGIBLE = Standing(eligible=True, count=52, threshold=50)
BELOW = Standing(eligible=False, count=48, threshold=50)


def holder(s: Standing, **kw) -> Standing:  # noqa: ANN003
    return dataclasses.replace(s, award_number="DA-2026-00001", **kw)


def test_a_first_crossing_opens_an_award_case() -> None:
    assert on_crossed(ELIGIBLE, T0, POLICY).open_case == "award"


def test_an_undecided_case_is_noted_not_doubled() -> None:
    s = dataclasses.replace(ELIGIBLE, undecided_case=uuid.uuid4(), undecided_kind="award")
    assert on_crossed(s, T0, POLICY).note == "count_back_at_threshold"
    assert on_lost(dataclasses.replace(s, eligible=False), T0, POLICY).note == "count_below_threshold"
    assert on_crossed(s, T0, POLICY).open_case is None


def test_after_a_rejection_while_eligible_a_new_case_opens_once_eligible_long_enough() -> None:
    probation = on_decided(ELIGIBLE, "reject", T0, POLICY)
    assert probation.probation and probation.rereview_due == T0 + timedelta(days=90)
    assert on_time(probation, T0 + timedelta(days=89)).open_case is None
    due = on_time(probation, T0 + timedelta(days=90))
    assert due.open_case == "award" and not due.standing.probation and due.standing.rereview_due is None


def test_a_dip_during_probation_stops_the_clock_and_the_next_crossing_starts_it_again() -> None:
    probation = on_decided(ELIGIBLE, "reject", T0, POLICY)
    dipped = on_lost(dataclasses.replace(probation, eligible=False), T0 + timedelta(days=10), POLICY).standing
    assert dipped.probation and dipped.rereview_due is None
    back = on_crossed(dataclasses.replace(dipped, eligible=True), T0 + timedelta(days=20), POLICY)
    assert back.open_case is None, "a crossing during probation waits its time"
    assert back.standing.rereview_due == T0 + timedelta(days=110)


def test_a_rejection_below_the_threshold_waits_for_a_crossing() -> None:
    probation = on_decided(BELOW, "reject", T0, POLICY)
    assert probation.probation and probation.rereview_due is None


def test_a_timer_that_finds_the_authority_below_or_reviewed_opens_nothing() -> None:
    due = dataclasses.replace(BELOW, probation=True, rereview_due=T0)
    assert on_time(due, T0).open_case is None
    assert on_time(due, T0).standing.rereview_due is None


def test_a_holder_below_gets_one_warning_and_a_deadline() -> None:
    plan = on_lost(holder(BELOW), T0, POLICY)
    assert plan.open_case is None and plan.announce == ("grace_started",)
    assert plan.standing.grace == Grace(T0 + timedelta(days=60), below=True)


def test_back_in_time_ends_the_grace_with_one_notice_and_no_case() -> None:
    dipped = on_lost(holder(BELOW), T0, POLICY).standing
    back = on_crossed(dataclasses.replace(dipped, eligible=True), T0 + timedelta(days=5), POLICY)
    assert back.announce == ("grace_ended",) and back.open_case is None
    at_deadline = on_time(back.standing, T0 + timedelta(days=60))
    assert at_deadline.open_case is None and at_deadline.standing.grace is None


def test_a_flapping_count_sends_at_most_one_warning_and_one_notice_and_keeps_the_deadline() -> None:
    s, announced = holder(BELOW), []
    for day in range(0, 40, 4):  # below, back, below, back, ... every two days
        now = T0 + timedelta(days=day)
        plan = on_lost(dataclasses.replace(s, eligible=False), now, POLICY)
        s, announced = plan.standing, announced + list(plan.announce)
        plan = on_crossed(dataclasses.replace(s, eligible=True), now + timedelta(days=2), POLICY)
        s, announced = plan.standing, announced + list(plan.announce)
    assert announced == ["grace_started", "grace_ended"]
    assert s.grace is not None and s.grace.until == T0 + timedelta(days=60)


def test_still_below_at_the_deadline_opens_a_revocation_case() -> None:
    dipped = on_lost(holder(BELOW), T0, POLICY).standing
    assert on_time(dipped, T0 + timedelta(days=59)).open_case is None
    plan = on_time(dipped, T0 + timedelta(days=60))
    assert plan.open_case == "revocation" and plan.standing.grace is None


def test_a_revocation_case_closes_itself_when_the_count_recovers() -> None:
    s = holder(ELIGIBLE, undecided_case=uuid.uuid4(), undecided_kind="revocation")
    plan = on_crossed(s, T0, POLICY)
    assert plan.close_case == "Schwelle wieder erreicht" and plan.open_case is None


def test_a_dip_after_the_deadline_passed_starts_a_new_grace_period() -> None:
    dipped = on_lost(holder(BELOW), T0, POLICY).standing
    back = on_crossed(dataclasses.replace(dipped, eligible=True), T0 + timedelta(days=1), POLICY).standing
    later = on_lost(dataclasses.replace(back, eligible=False), T0 + timedelta(days=61), POLICY)
    assert later.announce == ("grace_started",)
    assert later.standing.grace == Grace(T0 + timedelta(days=121), below=True)


def test_opening_a_case_by_hand() -> None:
    domain.may_open_by_hand(ELIGIBLE, known=True)
    with pytest.raises(NotFound):
        domain.may_open_by_hand(ELIGIBLE, known=False)
    with pytest.raises(Conflict, match="48 von 50"):
        domain.may_open_by_hand(BELOW, known=True)
    with pytest.raises(Conflict, match="bereits eine Prüfung"):
        domain.may_open_by_hand(dataclasses.replace(ELIGIBLE, undecided_kind="award"), known=True)
    with pytest.raises(Conflict, match="DA-2026-00001"):
        domain.may_open_by_hand(holder(ELIGIBLE), known=True)


def test_claims_and_hand_over() -> None:
    domain.refuse_claim(Case("award", "open", None), "a")
    domain.refuse_claim(Case("award", "claimed", "a"), "a")
    with pytest.raises(Conflict, match="von b bearbeitet"):
        domain.refuse_claim(Case("award", "claimed", "b"), "a")
    domain.refuse_release(Case("award", "claimed", "a"), "a", lead=False)
    domain.refuse_release(Case("award", "claimed", "b"), "a", lead=True)
    with pytest.raises(Conflict):
        domain.refuse_release(Case("award", "claimed", "b"), "a", lead=False)
    with pytest.raises(Conflict):
        domain.refuse_release(Case("award", "open", None), "a", lead=True)
    domain.refuse_assign(Case("award", "open", None), lead=True, assignee_active=True)
    with pytest.raises(Conflict):
        domain.refuse_assign(Case("award", "open", None), lead=False, assignee_active=True)
    with pytest.raises(Invalid) as refused:
        domain.refuse_assign(Case("award", "open", None), lead=True, assignee_active=False)
    assert refused.value.field == "reviewer"


def decide(**kw) -> tuple[str, str | None] | None:  # noqa: ANN003
    base = {"case": Case("award", "claimed", "a"), "reviewer": "a", "decision": "approve", "reason": None,
            "eligible": True}
    try:
        domain.refuse_decision(**{**base, **kw})
    except domain.Refused as exc:
        return type(exc).__name__, exc.field
    return None


def test_decisions() -> None:
    assert decide() is None
    assert decide(decision="reject", reason="weil") is None
    assert decide(decision="reject", reason=" ") == ("Invalid", "reason")
    assert decide(decision="revoke", reason="x") == ("Invalid", "decision")
    assert decide(case=Case("revocation", "claimed", "a"), decision="keep") is None
    assert decide(case=Case("revocation", "claimed", "a"), decision="revoke", reason="x", eligible=False) is None
    assert decide(case=Case("revocation", "claimed", "a"), decision="revoke") == ("Invalid", "reason")
    assert decide(case=Case("revocation", "claimed", "a"), decision="revoke", reason="x") == ("Conflict", None)
    assert decide(reviewer="b") == ("Conflict", None)
    assert decide(case=Case("award", "open", None)) == ("Conflict", None)
    assert decide(eligible=False) == ("Conflict", None)
    assert decide(eligible=False, decision="reject", reason="x") is None


def test_a_decided_case_refuses_any_further_decision_before_looking_at_the_reason() -> None:
    for case in (Case("award", "decided", "a"), Case("revocation", "closed", None)):
        assert decide(case=case, decision="reject", reason=None) == ("Conflict", None)
        assert decide(case=case, decision="nonsense") == ("Conflict", None)


def test_award_numbers_have_year_and_five_digits() -> None:
    assert award_number(date(2026, 3, 1), 7) == "DA-2026-00007"
    assert award_number(date(2027, 1, 1), 12345) == "DA-2027-12345"
    assert domain.parse_award_number("DA-2024-00031") == (2024, 31)
    assert domain.parse_award_number("DA-24-1") is None


def test_dates_are_berlin_dates() -> None:
    assert berlin_day(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == date(2027, 1, 1)
    assert berlin_day(datetime(2026, 6, 30, 22, 30, tzinfo=UTC)) == date(2026, 7, 1)  # summer time: UTC+2
    assert berlin_day(datetime(2026, 12, 31, 22, 59, tzinfo=UTC)) == date(2026, 12, 31)


def test_case_ids_are_stable_per_cause() -> None:
    e = uuid.uuid4()
    assert case_id_for(e) == case_id_for(e) != case_id_for(uuid.uuid4())
