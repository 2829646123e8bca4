"""Ingest's rules for ordering changes and deciding which events they mean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.ingest.domain import Change, Transition, emits, event_id_for, latest_per_link, snapshot_diff

T0 = datetime(2026, 11, 20, tzinfo=UTC)
P = {"id": "p", "name": "Hund", "scope": "municipal", "kind": "online", "url": None, "leika_key": None}


def ch(change_id: str, minute: int, action: str = "linked", procedure: dict | None = None) -> Change:
    return Change(change_id, T0 + timedelta(minutes=minute), action, "09675141", procedure or P)  # type: ignore[arg-type]


def test_the_latest_change_per_link_wins_whatever_the_order() -> None:
    changes = [ch("c2", 2, "unlinked", {"id": "p"}), ch("c1", 1), ch("c3", 3)]
    assert [c.change_id for c in latest_per_link(changes)] == ["c3"]
    assert [c.change_id for c in latest_per_link(reversed(changes))] == ["c3"]


def test_equal_times_are_broken_by_change_id_not_arrival() -> None:
    assert latest_per_link([ch("b", 1), ch("a", 1)])[0].change_id == "b"
    assert latest_per_link([ch("a", 1), ch("b", 1)])[0].change_id == "b"


def test_only_real_state_changes_emit() -> None:
    assert emits(Transition(ch("c", 1), was_linked=False, old_procedure=None)) == "linked"
    assert emits(Transition(ch("c", 1), was_linked=True, old_procedure=P)) is None
    assert emits(Transition(ch("c", 1), was_linked=True, old_procedure={**P, "kind": "information"})) == "linked"
    assert emits(Transition(ch("c", 1, "unlinked", {"id": "p"}), was_linked=True, old_procedure=P)) == "unlinked"
    assert emits(Transition(ch("c", 1, "unlinked", {"id": "p"}), was_linked=False, old_procedure=None)) is None


def test_event_ids_are_stable_per_change_and_action() -> None:
    assert event_id_for("c1", "linked") == event_id_for("c1", "linked")
    assert event_id_for("c1", "linked") != event_id_for("c1", "unlinked")


def test_snapshot_diff_links_new_or_changed_and_unlinks_missing() -> None:
    current = {"a": {**P, "id": "a"}, "b": {**P, "id": "b"}, "c": {**P, "id": "c"}}
    wanted = {"a": {**P, "id": "a"}, "b": {**P, "id": "b", "name": "neu"}, "d": {**P, "id": "d"}}
    links, unlinks = snapshot_diff(current, wanted)
    assert sorted(p["id"] for p in links) == ["b", "d"]
    assert unlinks == ["c"]
    assert snapshot_diff(current, current) == ([], [])
