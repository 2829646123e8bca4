"""Events produced by notify on `notify.notifications.v1`."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.events.envelope import Event


class NotificationUndeliverable(Event):
    """An email to the authority could not be delivered, for good: its address was refused or retries ran out."""

    event_type: Literal["NotificationUndeliverable"] = "NotificationUndeliverable"
    notification_id: UUID = Field(description="the event the email was about (its event_id)")
    notification_type: str = Field(description="that event's type, e.g. AwardGranted")
    case_id: UUID | None = Field(None, description="the review case the email was about, where there is one")
    attempts: int = Field(ge=0, description="delivery attempts made")
    error: str = Field(max_length=2_000, description="the mail server's last answer, or why the email was not sent")
