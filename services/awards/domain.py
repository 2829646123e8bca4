"""Awards' rules: when a case opens, who may claim and decide it, and how awards are numbered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal
from uuid import NAMESPACE_URL, UUID, uuid5

CaseKind = Literal["award", "revocation"]
Decision = Literal["approve", "reject", "revoke", "keep"]

DECISIONS: dict[str, frozenset[str]] = {
    "award": frozenset({"approve", "reject"}),
    "revocation": frozenset({"revoke", "keep"}),
}
NEEDS_REASON = frozenset({"reject", "revoke"})

_CASE_NS = uuid5(NAMESPACE_URL, "https://digitales-amt.example/awards/case")


@dataclass(frozen=True, slots=True)
class Situation:
    """What awards knows of one authority when a threshold event arrives."""

    holds_award: bool
    undecided_kind: CaseKind | None


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    field: str | None
    message: str


OnThreshold = Literal["open_award", "open_revocation", "note_on_case", "nothing"]


def on_crossed(s: Situation) -> OnThreshold:
    """An authority that reached its threshold is reviewed for the award, unless it holds it or is under review."""
    if s.undecided_kind is not None:
        return "note_on_case"
    if s.holds_award:
        return "nothing"
    return "open_award"


def on_lost(s: Situation) -> OnThreshold:
    """A holder that fell below its threshold is reviewed for revocation; an undecided award case is marked."""
    if s.undecided_kind is not None:
        return "note_on_case"
    if s.holds_award:
        return "open_revocation"
    return "nothing"


def case_id_for(event_id: UUID) -> UUID:
    """Deterministic from the threshold event, so a replayed event can never open a second case."""
    return uuid5(_CASE_NS, str(event_id))


def refuse_claim(status: str, claimed_by: str | None, reviewer: str) -> Refusal | None:
    if status == "decided":
        return Refusal(409, None, "the case is already decided")
    if status == "claimed" and claimed_by != reviewer:
        return Refusal(409, None, f"the case is claimed by {claimed_by}")
    return None


def refuse_decision(
    *, kind: str, status: str, claimed_by: str | None, reviewer: str, decision: str, reason: str | None, eligible: bool
) -> Refusal | None:
    """Only the claimant decides, once; reject and revoke need a reason; no award below the threshold."""
    if decision not in DECISIONS[kind]:
        allowed = " or ".join(sorted(DECISIONS[kind]))
        return Refusal(422, "decision", f"a {kind} case is decided with {allowed}")
    if decision in NEEDS_REASON and not (reason or "").strip():
        return Refusal(422, "reason", f"a reason is required to {decision}")
    if status == "decided":
        return Refusal(409, None, "the case is already decided")
    if status != "claimed" or claimed_by != reviewer:
        return Refusal(409, None, "only the reviewer who claimed the case decides it; claim it first")
    if decision == "approve" and not eligible:
        return Refusal(409, None, "the authority's count is below its threshold; the award cannot be approved now")
    return None


def award_number(day: date, seq: int) -> str:
    """`DA-<year>-<5 digits>`, counted without gaps within a year."""
    return f"DA-{day.year}-{seq:05d}"
