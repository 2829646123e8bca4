"""Event models of every topic (CONTRACT.md), one module per producer."""

from shared.events.awards import (
    AwardGranted,
    AwardImported,
    AwardKept,
    AwardRejected,
    AwardRevoked,
    CaseClosed,
    CaseOpened,
    GracePeriodEnded,
    GracePeriodStarted,
)
from shared.events.eligibility import ThresholdCrossed, ThresholdLost
from shared.events.envelope import Event, log_fields, utcnow
from shared.events.notify import NotificationUndeliverable
from shared.events.portal import (
    Procedure,
    ProcedureId,
    ProcedureLinked,
    ProcedureUnlinked,
)

__all__ = [
    "AwardGranted",
    "AwardImported",
    "CaseClosed",
    "GracePeriodEnded",
    "GracePeriodStarted",
    "AwardKept",
    "AwardRejected",
    "AwardRevoked",
    "CaseOpened",
    "Event",
    "NotificationUndeliverable",
    "Procedure",
    "ProcedureId",
    "ProcedureLinked",
    "ProcedureUnlinked",
    "ThresholdCrossed",
    "ThresholdLost",
    "log_fields",
    "utcnow",
]
