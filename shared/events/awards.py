"""Events produced by awards on `awards.cases.v1`."""

from __future__ import annotations

from datetime import date
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
