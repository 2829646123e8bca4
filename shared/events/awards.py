"""Events produced by awards on `awards.cases.v1`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.events.envelope import Event

CaseKind = Literal["award", "revocation"]


class CaseOpened(Event):
    """A review case opened for the authority."""

    event_type: Literal["CaseOpened"] = "CaseOpened"
    case_id: UUID
    kind: CaseKind = Field(description="`award` or `revocation`")
    count: int = Field(ge=0)


class AwardGranted(Event):
    event_type: Literal["AwardGranted"] = "AwardGranted"
    case_id: UUID
    award_number: str = Field(pattern=r"^DA-\d{4}-\d{5}$", description="`DA-<year>-<5 digits>`")
    awarded_at: date = Field(description="date of approval")
    reviewer: str


class AwardRejected(Event):
    event_type: Literal["AwardRejected"] = "AwardRejected"
    case_id: UUID
    reason: str
    reviewer: str
    rereview_on: date | None = Field(
        None, description="addition: the day a new case opens by itself if the authority stays eligible until then"
    )
    rereview_after_days: float | None = Field(None, description="addition: how long it must stay eligible")
    threshold: int | None = Field(None, description="addition: the authority's threshold")


class AwardRevoked(Event):
    event_type: Literal["AwardRevoked"] = "AwardRevoked"
    case_id: UUID
    award_number: str
    reason: str
    reviewer: str


class AwardKept(Event):
    event_type: Literal["AwardKept"] = "AwardKept"
    case_id: UUID
    award_number: str
    reviewer: str


class CaseClosed(Event):
    """A case closed without a decision: a revocation case whose authority is back at its threshold."""

    event_type: Literal["CaseClosed"] = "CaseClosed"
    case_id: UUID
    kind: CaseKind
    count: int = Field(ge=0, description="the count that closed it")
    reason: str


class GracePeriodStarted(Event):
    """A holder fell below its threshold: it keeps the award if it is back at the threshold by `deadline`."""

    event_type: Literal["GracePeriodStarted"] = "GracePeriodStarted"
    award_number: str
    deadline: date = Field(description="Europe/Berlin date; after it a revocation case opens if still below")
    deadline_at: datetime = Field(description="the exact end of the grace period (UTC)")
    count: int = Field(ge=0)
    threshold: int = Field(ge=1)


class GracePeriodEnded(Event):
    """A holder in its grace period is back at its threshold; no revocation case opens."""

    event_type: Literal["GracePeriodEnded"] = "GracePeriodEnded"
    award_number: str
    deadline: date = Field(description="the deadline of the grace period; a new dip before it keeps this deadline")
    count: int = Field(ge=0)
    threshold: int = Field(ge=1)


class AwardImported(Event):
    """An award from before this system (imported holder); no congratulation."""

    event_type: Literal["AwardImported"] = "AwardImported"
    award_number: str = Field(pattern=r"^DA-\d{4}-\d{5}$")
    awarded_at: date
    revoked_at: date | None = None
