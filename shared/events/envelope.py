"""The envelope every event on every topic carries, and helpers to build and read events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Envelope fields; each event type adds its payload fields beside them."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID = Field(default_factory=uuid4, description="unique id of this event; the idempotency key")
    event_type: str = Field(description="name of the event type, a past-tense fact")
    event_version: int = Field(1, description="major version of the event's shape")
    occurred_at: AwareDatetime = Field(default_factory=utcnow, description="when the fact happened (UTC)")
    authority_id: str = Field(description="key of the authority (AGS, Kreis, VG or Bezirk key); the Kafka key")
    correlation_id: str = Field(description="id tying together all events caused by one outside request")

    # Written in UTC; read as sent (an aware time compares correctly in any offset). A serializer, not a validator,
    # so that consumers parsing thousands of events per batch make no Python call per event for it.
    @field_serializer("occurred_at")
    def _in_utc(self, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def log_fields(event: Event | dict[str, Any]) -> dict[str, Any]:
    """The fields every log line about an event carries."""
    get = event.get if isinstance(event, dict) else lambda k: getattr(event, k, None)
    return {k: str(get(k)) for k in ("event_id", "event_type", "authority_id", "correlation_id") if get(k) is not None}
