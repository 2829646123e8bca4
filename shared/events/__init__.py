"""Event models of every topic (CONTRACT.md), one module per producer."""

from shared.events.awards import (
    AwardGranted,
    AwardKept,
    AwardRejected,
    AwardRevoked,
    CaseOpened,
)
from shared.events.eligibility import ThresholdCrossed, ThresholdLost
from shared.events.envelope import Event, log_fields, utcnow
from shared.events.portal import (
    Procedure,
    ProcedureId,
    ProcedureLinked,
    ProcedureUnlinked,
)

__all__ = [
    "AwardGranted",
    "AwardKept",
    "AwardRejected",
    "AwardRevoked",
    "CaseOpened",
    "Event",
    "Procedure",
    "ProcedureId",
    "ProcedureLinked",
    "ProcedureUnlinked",
    "ThresholdCrossed",
    "ThresholdLost",
    "log_fields",
    "utcnow",
]
