"""Awards' rules on plain data."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from services.awards.domain import (
    Situation,
    award_number,
    case_id_for,
    on_crossed,
    on_lost,
    refuse_claim,
    refuse_decision,
)


@pytest.mark.parametrize(
    ("holds", "undecided", "crossed", "lost"),
    [
        (False, None, "open_award", "nothing"),
        (True, None, "nothing", "open_revocation"),
        (False, "award", "note_on_case", "note_on_case"),
        (True, "revocation", "note_on_case", "note_on_case"),
    ],
)
def test_what_a_threshold_event_does(holds: bool, undecided: str | None, crossed: str, lost: str) -> None:
    s = Situation(holds, undecided)  # type: ignore[arg-type]
    assert on_crossed(s) == crossed
    assert on_lost(s) == lost


def test_award_numbers_have_year_and_five_digits() -> None:
    assert award_number(date(2026, 3, 1), 7) == "DA-2026-00007"
    assert award_number(date(2027, 1, 1), 12345) == "DA-2027-12345"


def test_case_ids_are_stable_per_event() -> None:
    e = uuid.uuid4()
    assert case_id_for(e) == case_id_for(e) != case_id_for(uuid.uuid4())


def test_claims() -> None:
    assert refuse_claim("open", None, "a") is None
    assert refuse_claim("claimed", "a", "a") is None
    assert refuse_claim("claimed", "b", "a").status == 409  # type: ignore[union-attr]
    assert refuse_claim("decided", "a", "a").status == 409  # type: ignore[union-attr]


def decide(**kw):  # noqa: ANN003, ANN201
    base = {"kind": "award", "status": "claimed", "claimed_by": "a", "reviewer": "a", "decision": "approve",
            "reason": None, "eligible": True}
    r = refuse_decision(**{**base, **kw})
    return (r.status, r.field) if r else None


def test_decisions() -> None:
    assert decide() is None
    assert decide(decision="reject", reason="weil") is None
    assert decide(decision="reject", reason=" ") == (422, "reason")
    assert decide(decision="revoke", reason="x") == (422, "decision")
    assert decide(kind="revocation", decision="keep") is None
    assert decide(kind="revocation", decision="revoke") == (422, "reason")
    assert decide(reviewer="b") == (409, None)
    assert decide(status="open", claimed_by=None) == (409, None)
    assert decide(status="decided") == (409, None)
    assert decide(eligible=False) == (409, None)
    assert decide(eligible=False, decision="reject", reason="x") is None
