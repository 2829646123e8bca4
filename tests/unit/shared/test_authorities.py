"""Names that say which authority: one function decides how each kind is named, over the whole reference list."""

from __future__ import annotations

from collections import Counter

import pytest

from shared.authorities import KIND_LABELS, NAME_PREFIXES, display_name, registry

EXPECTED = {
    "09675": ("Landkreis Kitzingen", "der Landkreis Kitzingen", "den Landkreis Kitzingen"),
    "09675141": ("Stadt Kitzingen", "die Stadt Kitzingen", "die Stadt Kitzingen"),
    "096755617": ("Verwaltungsgemeinschaft Kitzingen", "die Verwaltungsgemeinschaft Kitzingen",
                  "die Verwaltungsgemeinschaft Kitzingen"),
    "096": ("Bezirk Unterfranken", "der Bezirk Unterfranken", "den Bezirk Unterfranken"),
    "09663000": ("Stadt Würzburg", "die Stadt Würzburg", "die Stadt Würzburg"),  # kreisfreie Stadt
    "09573114": ("Markt Cadolzburg", "der Markt Cadolzburg", "den Markt Cadolzburg"),
    "09278198": ("Gemeinde Windberg", "die Gemeinde Windberg", "die Gemeinde Windberg"),
}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_each_kind_is_named_as_the_authority_writes_itself(key: str) -> None:
    a = registry().get(key)
    assert a is not None
    assert (a.display_name, a.nominative, a.accusative) == EXPECTED[key]


def test_every_authority_of_every_kind_carries_its_kind_and_is_told_apart_with_its_landkreis() -> None:
    authorities = list(registry())
    assert {a.kind for a in authorities} == set(KIND_LABELS)
    for a in authorities:
        assert a.display_name.endswith(a.name) and a.display_name.startswith(NAME_PREFIXES[a.kind] + " "), a
    assert registry().get("09174131").display_name == "Markt Indersdorf", "a name that says its kind once"  # type: ignore[union-attr]
    assert len({a.name for a in authorities}) < len(authorities), "names alone are shared (Kitzingen, Schweinfurt, ...)"
    told_apart = Counter((a.display_name, a.district) for a in authorities)
    assert [k for k, n in told_apart.items() if n > 1] == []
    assert display_name("Stadt am See", "stadt") == "Stadt am See", "a name that already says its kind"
