"""Event models: written in UTC whatever offset they were built with; NUL characters refused with a clear message."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from services.ingest.schemas import field_errors
from shared.events import NotificationUndeliverable, Procedure, ProcedureLinked

PROC = {"id": "p-1", "name": "Gewerbeanmeldung", "scope": "municipal", "kind": "online"}


def test_an_event_built_with_an_offset_is_written_in_utc_and_reads_back_as_the_same_instant() -> None:
    berlin = datetime(2026, 11, 20, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    e = ProcedureLinked(authority_id="09675141", correlation_id="c", change_id="x", occurred_at=berlin, procedure=PROC)
    written = json.loads(e.to_json())
    assert written["occurred_at"] == "2026-11-20T11:00:00Z"
    back = ProcedureLinked.model_validate_json(e.to_json())
    assert back.occurred_at == berlin and back.occurred_at.utcoffset() == timedelta(0)
    assert back.occurred_at == datetime(2026, 11, 20, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize("field", ["id", "name", "scope", "url", "leika_key"])
def test_nul_characters_are_refused_in_every_text_field(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Procedure.model_validate({**PROC, field: "a\x00b"})
    assert field_errors(caught.value, 3) == [{"index": 3, "field": field, "message": "must not contain NUL characters"}]


def test_an_undeliverable_notification_round_trips_and_needs_its_attempts_to_be_counted() -> None:
    e = NotificationUndeliverable(authority_id="09675141", correlation_id="c", notification_id=uuid.uuid4(),
                                  notification_type="CaseOpened", attempts=1, error="550 Mailbox unknown")
    assert NotificationUndeliverable.model_validate_json(e.to_json()) == e and e.case_id is None
    with pytest.raises(ValidationError) as caught:
        NotificationUndeliverable.model_validate({**e.model_dump(), "attempts": -1})
    assert [err["loc"] for err in caught.value.errors()] == [("attempts",)]
