"""Eligibility's counting rules, on plain data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.eligibility.domain import Link, LinkChange, Standing, apply_changes, counts, threshold_for

T0 = datetime(2026, 11, 20, tzinfo=UTC)
A, BEZIRK = "09675141", "096"


def threshold(authority_id: str) -> int:
    return threshold_for("bezirk" if authority_id == BEZIRK else "gemeinde", 50, 30)


def link(pid: str, minute: int = 0, *, authority: str = A, kind: str = "online", scope: str = "municipal") -> LinkChange:
    return LinkChange(uuid.uuid4(), "c", authority, pid, True, T0 + timedelta(minutes=minute), f"ch-{pid}-{minute}",
                      f"Verfahren {pid}", scope, kind)


def unlink(pid: str, minute: int = 0, *, authority: str = A) -> LinkChange:
    return LinkChange(uuid.uuid4(), "c", authority, pid, False, T0 + timedelta(minutes=minute), f"ch-{pid}-{minute}-u")


def run(changes, links=None, standings=None):
    return apply_changes(links or {}, standings or {}, changes, threshold)


@pytest.mark.parametrize(
    ("kind", "scope", "counted"),
    [
        ("online", "municipal", True),
        ("online", "central", True),
        ("information", "municipal", False),
        ("print_form", "municipal", False),
        ("online", "federal", False),
    ],
)
def test_only_online_municipal_or_central_procedures_count(kind: str, scope: str, counted: bool) -> None:
    assert counts(kind, scope) is counted
    assert run([link("p", kind=kind, scope=scope)]).standings[A].count == int(counted)


def test_a_procedure_counts_once_however_often_it_is_linked() -> None:
    out = run([link("p", 0), link("p", 1), link("p", 2)])
    assert out.standings[A].count == 1


def test_unlink_of_an_unknown_link_changes_no_count() -> None:
    out = run([unlink("never-linked")])
    assert out.standings[A].count == 0
    assert out.crossings == []


def test_a_change_older_than_the_stored_one_is_ignored() -> None:
    stored = {(A, "p"): Link(True, True, T0 + timedelta(minutes=5), "ch-late")}
    out = run([unlink("p", 1)], links=stored, standings={A: Standing(1, 50, False)})
    assert out.links == {}
    assert A not in out.standings


def test_crossing_at_fifty_emits_once_and_movement_above_emits_nothing() -> None:
    out = run([link(f"p{i}") for i in range(55)])
    assert [(c.direction, c.count, c.threshold) for c in out.crossings] == [("crossed", 50, 50)]
    assert out.standings[A] == Standing(55, 50, True, announced=1)


def test_bezirk_crosses_at_thirty() -> None:
    out = run([link(f"p{i}", authority=BEZIRK) for i in range(30)])
    assert [(c.authority_id, c.count, c.threshold) for c in out.crossings] == [(BEZIRK, 30, 30)]


def test_a_count_oscillating_around_the_threshold_emits_each_crossing() -> None:
    changes = [link(f"p{i}") for i in range(50)]
    changes += [unlink("p0", 1), link("p0", 2), unlink("p1", 3), unlink("p2", 4), link("p1", 5), link("p2", 6)]
    out = run(changes)
    assert [(c.direction, c.count) for c in out.crossings] == [
        ("crossed", 50), ("lost", 49), ("crossed", 50), ("lost", 49), ("crossed", 50)
    ]


def test_batches_give_the_same_crossings_as_single_events() -> None:
    changes = [link(f"p{i}") for i in range(50)] + [unlink("p3", 1), link("p3", 2)]
    whole = run(changes)
    links, standings, crossings = {}, {}, []
    for c in changes:
        out = apply_changes(links, standings, [c], threshold)
        links, standings = {**links, **out.links}, {**standings, **out.standings}
        crossings += out.crossings
    assert [(c.direction, c.count) for c in crossings] == [(c.direction, c.count) for c in whole.crossings]
    assert standings == whole.standings


def test_relinking_keeps_the_first_linked_at_and_updates_the_kind() -> None:
    first = run([link("p", 0, kind="information")])
    again = apply_changes(first.links, first.standings, [link("p", 5)], threshold)
    assert again.links[(A, "p")].linked_at == T0
    assert again.standings[A].count == 1


def test_a_changed_threshold_is_announced_on_the_next_event() -> None:
    out = run([link("p51", 1)], standings={A: Standing(50, 60, False)})
    assert [(c.direction, c.count, c.threshold) for c in out.crossings] == [("crossed", 51, 50)]


def test_each_threshold_event_carries_the_next_number_of_its_authority() -> None:
    out = run([link(f"p{i}") for i in range(50)] + [unlink("p0", 99)], standings={A: Standing(0, 50, False, 4)})
    assert [(c.direction, c.sequence) for c in out.crossings] == [("crossed", 5), ("lost", 6)]
    assert out.standings[A].announced == 6


@pytest.mark.parametrize("kind", ["gemeinde", "markt", "stadt", "kreisfreie_stadt", "landkreis", "verwaltungsgemeinschaft"])
def test_every_kind_but_a_bezirk_has_the_default_threshold(kind: str) -> None:
    assert (threshold_for(kind, 50, 30), threshold_for("bezirk", 50, 30)) == (50, 30)
