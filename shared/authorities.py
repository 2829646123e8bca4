"""The reference list of Bavarian authorities that can hold the award (Destatis GV100AD, see data/SOURCES.md)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

DATA_DIR = Path(__file__).parent / "data"

AuthorityKind = Literal[
    "gemeinde", "markt", "stadt", "kreisfreie_stadt", "landkreis", "verwaltungsgemeinschaft", "bezirk"
]
KIND_LABELS: dict[str, str] = {
    "gemeinde": "Gemeinde",
    "markt": "Markt",
    "stadt": "Stadt",
    "kreisfreie_stadt": "Kreisfreie Stadt",
    "landkreis": "Landkreis",
    "verwaltungsgemeinschaft": "Verwaltungsgemeinschaft",
    "bezirk": "Bezirk",
}


@dataclass(frozen=True, slots=True)
class Authority:
    key: str
    name: str
    kind: AuthorityKind
    district: str | None
    region: str

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def display_name(self) -> str:
        """The name as the authority writes it, with its kind: "Landkreis Kitzingen", "Stadt Kitzingen"."""
        return display_name(self.name, self.kind)

    @property
    def nominative(self) -> str:
        """With its article, as the subject of a sentence: "der Landkreis Kitzingen", "die Stadt Kitzingen"."""
        return f"{ARTICLES[self.kind][0]} {self.display_name}"

    @property
    def accusative(self) -> str:
        """After "für": "den Landkreis Kitzingen", "die Stadt Kitzingen"."""
        return f"{ARTICLES[self.kind][1]} {self.display_name}"


# How each kind writes its own name. A kreisfreie Stadt calls itself "Stadt Würzburg"; the reference data does not
# tell a Große Kreisstadt from another Stadt (GV100AD's suffixes were folded into `kind`), so both are "Stadt".
NAME_PREFIXES: dict[str, str] = {
    "gemeinde": "Gemeinde",
    "markt": "Markt",
    "stadt": "Stadt",
    "kreisfreie_stadt": "Stadt",
    "landkreis": "Landkreis",
    "verwaltungsgemeinschaft": "Verwaltungsgemeinschaft",
    "bezirk": "Bezirk",
}


# (nominative, accusative): Landkreis, Markt and Bezirk are masculine; Stadt, Gemeinde, Verwaltungsgemeinschaft feminine.
ARTICLES: dict[str, tuple[str, str]] = {
    "gemeinde": ("die", "die"),
    "markt": ("der", "den"),
    "stadt": ("die", "die"),
    "kreisfreie_stadt": ("die", "die"),
    "landkreis": ("der", "den"),
    "verwaltungsgemeinschaft": ("die", "die"),
    "bezirk": ("der", "den"),
}


def display_name(name: str, kind: str) -> str:
    """The one place that decides how an authority is named to a person."""
    prefix = NAME_PREFIXES.get(kind)
    return f"{prefix} {name}" if prefix and not name.startswith(prefix + " ") else name


class Registry:
    """Look-ups by key over all authorities; built once per process."""

    def __init__(self, authorities: list[Authority]) -> None:
        self._by_key = {a.key: a for a in authorities}
        self.regions = sorted({a.region for a in authorities})

    def get(self, key: str) -> Authority | None:
        return self._by_key.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[Authority]:
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)


def _read(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@cache
def registry() -> Registry:
    rows = [
        Authority(r["ags"], r["name"], r["kind"], r["district"] or None, r["region"])  # type: ignore[arg-type]
        for r in _read("bavaria_municipalities.csv")
    ]
    rows += [
        Authority(r["vg_key"], r["name"], "verwaltungsgemeinschaft", r["district"] or None, r["region"])
        for r in _read("bavaria_verwaltungsgemeinschaften.csv")
    ]
    return Registry(rows)
