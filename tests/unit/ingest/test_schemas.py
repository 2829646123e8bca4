"""Validation of portal changes: every invalid change named by index and field."""

from __future__ import annotations

from harness.builders import change, procedure
from services.ingest.schemas import parse_changes, parse_procedures
from shared.authorities import registry


def errors_of(raw: list) -> list[tuple]:
    _, errors = parse_changes(raw, registry())
    return [(e["index"], e["field"]) for e in errors]


def test_a_valid_batch_has_no_errors() -> None:
    changes, errors = parse_changes([change("09675141", "p"), change("096755616", "q", action="unlinked")], registry())
    assert errors == [] and len(changes) == 2
    assert changes[1].procedure == {"id": "q"}


def test_each_invalid_change_is_named_with_its_field() -> None:
    ok = change("09675141", "p")
    unknown = change("99999999", "p")
    bad_action = {**change("09675141", "p"), "action": "moved"}
    no_name = change("09675141", "p")
    del no_name["procedure"]["name"]
    bad_time = {**change("09675141", "p"), "occurred_at": "yesterday"}
    naive_time = {**change("09675141", "p"), "occurred_at": "2026-11-20T10:00:00"}
    bad_kind = change("09675141", "p", kind="pdf")
    assert errors_of([ok, unknown, bad_action, no_name, bad_time, naive_time, bad_kind]) == [
        (1, "authority_id"),
        (2, "action"),
        (3, "procedure.name"),
        (4, "occurred_at"),
        (5, "occurred_at"),
        (6, "procedure.kind"),
    ]


def test_unlink_needs_only_the_procedure_id() -> None:
    assert errors_of([{**change("09675141", "p", action="unlinked"), "procedure": {}}]) == [(0, "procedure.id")]


def test_a_change_that_is_not_an_object_is_an_error() -> None:
    assert errors_of(["nope"]) == [(0, "body")]


def test_snapshot_procedures_are_validated_and_unique() -> None:
    procs, errors = parse_procedures([procedure("a"), procedure("a"), {"id": "b"}])
    assert [(e["index"], e["field"]) for e in errors][0] == (1, "procedures.id")
    assert {(e["index"], e["field"]) for e in errors[1:]} >= {(2, "procedures.name")}
