"""Awards' rules: the life of an award (review, re-review, grace, revocation), who may act on a case, numbering.

Pure functions on plain data: what awards knows of an authority (`Standing`) and a moment (`now`) go in; a
`Plan` (what to change, which case to open or close, which facts to announce) or a refusal comes out.

The life of an award, in short:
- an authority that reaches its threshold gets an award case; a reviewer approves or rejects it;
- after a rejection the authority is on probation: a new case opens by itself once it has been at or above its
  threshold for `rereview_after` since the rejection (or since its next crossing); a reviewer may open one sooner;
- a holder that falls below its threshold gets a grace period (a warning naming the deadline); back at the
  threshold, the grace ends (one notice); still below at the deadline, a revocation case opens. A count that flaps
  within one grace period sends at most one warning and one notice, and keeps the first deadline;
- a revocation case closes by itself when the authority is back at its threshold before a decision.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo

CaseKind = Literal["award", "revocation"]
Decision = Literal["approve", "reject", "revoke", "keep"]
BERLIN = ZoneInfo("Europe/Berlin")

DECISIONS: dict[str, frozenset[str]] = {
    "award": frozenset({"approve", "reject"}),
    "revocation": frozenset({"revoke", "keep"}),
}
NEEDS_REASON = frozenset({"reject", "revoke"})
DECISION_WORDS = {"approve": "genehmigen", "reject": "ablehnen", "revoke": "widerrufen", "keep": "beibehalten"}
KIND_WORDS = {"award": "Verleihung", "revocation": "Widerruf"}

_CASE_NS = uuid5(NAMESPACE_URL, "https://digitales-amt.example/awards/case")


# --- refusals --------------------------------------------------------------------------------------------------

class Refused(Exception):
    """A request the rules do not allow; the message is German, for the reviewer."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(Refused):
    """No such case, authority or reviewer."""


class Conflict(Refused):
    """Not now: the case or the authority is in a state that does not allow it."""


class Invalid(Refused):
    """The request itself is incomplete or wrong (names the field)."""


# --- what awards knows of one authority ------------------------------------------------------------------------

@dataclass(frozen=True)
class Grace:
    """A holder's grace period: a window from its first dip below the threshold to `until`."""

    until: datetime
    below: bool  # below the threshold now
    recovered_noticed: bool = False  # the one "back at the threshold" notice of this period was sent


@dataclass(frozen=True)
class Standing:
    eligible: bool = False
    count: int = 0
    threshold: int = 0
    award_number: str | None = None  # the current award, if it holds one
    undecided_case: UUID | None = None
    undecided_kind: CaseKind | None = None
    probation: bool = False  # rejected; waiting to be eligible long enough for a new case
    rereview_due: datetime | None = None
    grace: Grace | None = None

    @property
    def holds_award(self) -> bool:
        return self.award_number is not None


@dataclass(frozen=True)
class Policy:
    rereview_after: timedelta
    grace: timedelta


# --- what to do ------------------------------------------------------------------------------------------------

Announcement = Literal["grace_started", "grace_ended"]


@dataclass(frozen=True)
class Plan:
    """The effects of one rule: the standing afterwards, a case to open, the undecided case to note or close, facts
    to announce. Nothing in it has happened yet; the handler carries it out in one transaction."""

    standing: Standing
    open_case: CaseKind | None = None
    note: str | None = None  # an action to record on the undecided case
    close_case: str | None = None  # close the undecided (revocation) case, with this reason
    announce: tuple[Announcement, ...] = field(default_factory=tuple)


def _with(s: Standing, **changes: object) -> Standing:
    return dataclasses.replace(s, **changes)  # type: ignore[arg-type]


def on_crossed(s: Standing, now: datetime, policy: Policy) -> Plan:
    """The count reached the threshold (the standing already says so)."""
    if s.undecided_kind == "revocation":
        return Plan(_with(s, grace=None), close_case="Schwelle wieder erreicht")
    if s.undecided_kind == "award":
        return Plan(s, note="count_back_at_threshold")
    if s.holds_award:
        if s.grace is None:
            return Plan(s)
        if s.grace.recovered_noticed:
            return Plan(_with(s, grace=dataclasses.replace(s.grace, below=False)))
        return Plan(_with(s, grace=dataclasses.replace(s.grace, below=False, recovered_noticed=True)),
                    announce=("grace_ended",))
    if s.probation:
        return Plan(_with(s, rereview_due=now + policy.rereview_after))
    return Plan(s, open_case="award")


def on_lost(s: Standing, now: datetime, policy: Policy) -> Plan:
    """The count fell below the threshold (the standing already says so)."""
    if s.undecided_kind is not None:
        return Plan(s, note="count_below_threshold")
    if s.holds_award:
        if s.grace is not None and now < s.grace.until:  # the same grace period: its deadline, no second warning
            return Plan(_with(s, grace=dataclasses.replace(s.grace, below=True)))
        return Plan(_with(s, grace=Grace(now + policy.grace, below=True)), announce=("grace_started",))
    if s.probation:
        return Plan(_with(s, rereview_due=None))
    return Plan(s)


def on_time(s: Standing, now: datetime) -> Plan:
    """A due timer: the re-review after probation, or the end of a grace period."""
    if s.rereview_due is not None and s.rereview_due <= now:
        if s.eligible and s.undecided_kind is None and not s.holds_award:
            return Plan(_with(s, probation=False, rereview_due=None), open_case="award")
        return Plan(_with(s, rereview_due=None))
    if s.grace is not None and s.grace.until <= now:
        if s.grace.below and s.holds_award and s.undecided_kind is None:
            return Plan(_with(s, grace=None), open_case="revocation")
        return Plan(_with(s, grace=None))
    return Plan(s)


def on_decided(s: Standing, decision: str, now: datetime, policy: Policy) -> Standing:
    """What a decision leaves behind: a rejection puts the authority on probation (its timer runs while it is
    eligible), an approval or a revocation ends probation and grace."""
    if decision == "reject":
        return _with(s, probation=True, rereview_due=now + policy.rereview_after if s.eligible else None)
    return _with(s, probation=False, rereview_due=None, grace=None)


def may_open_by_hand(s: Standing, known: bool) -> None:
    """A reviewer may open an award case for an eligible authority without a case or an award."""
    if not known:
        raise NotFound("Unbekannte Behörde: kein Gemeinde-, Kreis-, Verbands- oder Bezirksschlüssel aus Bayern.")
    if s.undecided_kind is not None:
        raise Conflict("Für diese Behörde ist bereits eine Prüfung offen.")
    if s.holds_award:
        raise Conflict(f"Die Behörde trägt die Auszeichnung bereits ({s.award_number}).")
    if not s.eligible:
        raise Conflict(f"Die Behörde erreicht ihre Schwelle derzeit nicht ({s.count} von {s.threshold} Verfahren)."
                       if s.threshold else "Für diese Behörde ist noch keine Anzahl bekannt.")


# --- who may act on a case -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    kind: CaseKind
    status: str
    claimed_by: str | None


def refuse_claim(case: Case, reviewer: str) -> None:
    if case.status in ("decided", "closed"):
        raise Conflict("Der Fall ist bereits abgeschlossen.")
    if case.status == "claimed" and case.claimed_by != reviewer:
        raise Conflict(f"Der Fall wird bereits von {case.claimed_by} bearbeitet.")


def refuse_release(case: Case, reviewer: str, lead: bool) -> None:
    """The claimant or a lead returns a claimed case to the queue."""
    if case.status in ("decided", "closed"):
        raise Conflict("Der Fall ist bereits abgeschlossen.")
    if case.status != "claimed":
        raise Conflict("Der Fall ist nicht übernommen; er steht bereits in der Warteschlange.")
    if case.claimed_by != reviewer and not lead:
        raise Conflict("Nur wer den Fall übernommen hat oder eine Leitung kann ihn zurückgeben.")


def refuse_assign(case: Case, lead: bool, assignee_active: bool) -> None:
    if not lead:
        raise Conflict("Nur eine Leitung kann Fälle zuweisen.")
    if case.status in ("decided", "closed"):
        raise Conflict("Der Fall ist bereits abgeschlossen.")
    if not assignee_active:
        raise Invalid("Keine aktive Prüferin und kein aktiver Prüfer dieses Namens.", "reviewer")


def refuse_decision(case: Case, reviewer: str, decision: str, reason: str | None, eligible: bool) -> None:
    """A decided case answers every further decision with a conflict, before anything else is looked at; then only
    the claimant decides, with a reason to reject or revoke; no award below, no revocation at the threshold."""
    if case.status in ("decided", "closed"):
        raise Conflict("Der Fall ist bereits abgeschlossen.")
    if decision not in DECISIONS[case.kind]:
        allowed = " oder ".join(DECISION_WORDS[d] for d in sorted(DECISIONS[case.kind]))
        raise Invalid(f"Ein Fall der Art {KIND_WORDS[case.kind]} wird mit {allowed} entschieden.", "decision")
    if decision in NEEDS_REASON and not (reason or "").strip():
        raise Invalid(f"Zum {DECISION_WORDS[decision].capitalize()} ist eine Begründung nötig.", "reason")
    if case.status != "claimed" or case.claimed_by != reviewer:
        raise Conflict("Nur wer den Fall übernommen hat, entscheidet ihn. Bitte zuerst übernehmen.")
    if decision == "approve" and not eligible:
        raise Conflict("Die Anzahl der Behörde liegt unter ihrer Schwelle; die Auszeichnung kann jetzt nicht "
                       "verliehen werden.")
    if decision == "revoke" and eligible:
        raise Conflict("Die Behörde erreicht ihre Schwelle wieder; die Auszeichnung kann nicht widerrufen werden.")


# --- numbers and dates -----------------------------------------------------------------------------------------

def case_id_for(cause: UUID | str) -> UUID:
    """Deterministic from what opened the case (a threshold event, a timer), so a replay never opens a second."""
    return uuid5(_CASE_NS, str(cause))


def berlin_day(moment: datetime) -> date:
    """Award dates, decisions and deadlines are the ministry's dates: Europe/Berlin, not UTC."""
    return moment.astimezone(BERLIN).date()


def award_number(day: date, seq: int) -> str:
    """`DA-<year>-<5 digits>`, counted without gaps within a year (the year of the Berlin date)."""
    return f"DA-{day.year}-{seq:05d}"


def parse_award_number(number: str) -> tuple[int, int] | None:
    """(year, sequence) of a well-formed award number."""
    parts = number.split("-")
    if len(parts) != 3 or parts[0] != "DA" or len(parts[1]) != 4 or len(parts[2]) != 5:
        return None
    if not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return int(parts[1]), int(parts[2])
