"""Ingest's rules: which portal change wins for a link, and which link events a change of state means."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

Action = Literal["linked", "unlinked"]
LinkKey = tuple[str, str]  # (authority_id, procedure_id)

_EVENT_NS = uuid5(NAMESPACE_URL, "https://digitales-amt.example/ingest")


@dataclass(frozen=True, slots=True)
class Change:
    """One portal change, validated; `procedure` is the full procedure for a link, only the id for an unlink."""

    change_id: str
    occurred_at: datetime
    action: Action
    authority_id: str
    procedure: Mapping[str, Any]

    @property
    def key(self) -> LinkKey:
        return (self.authority_id, str(self.procedure["id"]))

    @property
    def order(self) -> tuple[datetime, str]:
        """Latest `occurred_at` wins; the change id breaks ties so arrival order never matters."""
        return (self.occurred_at, self.change_id)


@dataclass(frozen=True, slots=True)
class Transition:
    """A stored link's state before and after a winning change."""

    change: Change
    was_linked: bool
    old_procedure: Mapping[str, Any] | None


def latest_per_link(changes: Iterable[Change]) -> list[Change]:
    """Of several changes to one link in a batch, only the latest can win against the stored state."""
    best: dict[LinkKey, Change] = {}
    for change in changes:
        current = best.get(change.key)
        if current is None or change.order > current.order:
            best[change.key] = change
    return list(best.values())


def emits(t: Transition) -> Action | None:
    """A link event only when the link state really changes: newly linked, unlinked, or its procedure changed."""
    if t.change.action == "unlinked":
        return "unlinked" if t.was_linked else None
    if not t.was_linked or dict(t.old_procedure or {}) != dict(t.change.procedure):
        return "linked"
    return None


def event_id_for(change_id: str, action: Action) -> UUID:
    """Deterministic, so that re-processing one change can never make a second, different event."""
    return uuid5(_EVENT_NS, f"{action}:{change_id}")


def snapshot_diff(
    current: Mapping[str, Mapping[str, Any]], wanted: Mapping[str, Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """Links and unlinks that make the currently linked procedures equal to the snapshot (by id and content)."""
    links = [p for pid, p in wanted.items() if dict(current.get(pid) or {}) != dict(p)]
    unlinks = [pid for pid in current if pid not in wanted]
    return links, unlinks


def authority_for_region(ars: str, known: Callable[[str], bool]) -> str | None:
    """The authority key an ARS (Land 2 + RB 1 + Kreis 2 + Verband 4 + Gemeinde 3) stands for, if any.

    AGS = ARS[0:5] + ARS[9:12]; a Verband 5xxx with Gemeinde 000 is a Verwaltungsgemeinschaft; Kreis or
    Regierungsbezirk prefixes padded with zeros are the Landkreis or the Bezirk; a Land-level region names no
    single authority.
    """
    if not ars.isdigit() or not 2 <= len(ars) <= 12:
        return None
    ars = ars.ljust(12, "0")
    rb, kreis, verband, gemeinde = ars[2], ars[3:5], ars[5:9], ars[9:12]
    candidates = []
    if gemeinde != "000" or verband == "0000":
        candidates.append(ars[0:5] + gemeinde)
    if verband.startswith("5") and gemeinde == "000":
        candidates.append(ars[0:9])
    if verband == "0000" and gemeinde == "000" and kreis != "00":
        candidates.append(ars[0:5])
    if kreis == "00" and verband == "0000" and gemeinde == "000" and rb != "0":
        candidates.append(ars[0:3])
    return next((key for key in candidates if known(key)), None)


def pvog_procedure_id(leistung: tuple[str, str] | None, service: tuple[str, str]) -> str:
    """The procedure is the Leistung offered online; a tie without one stands for its service alone."""
    if leistung is not None:
        return f"pvog:{leistung[0]}:{leistung[1]}"
    return f"pvog-dienst:{service[0]}:{service[1]}"


def pvog_procedure(
    procedure_id: str, service_name: str | None, url: str | None, leistung_name: str | None, leika_key: str | None
) -> dict[str, Any]:
    """A PVOG link is an online service tied to an authority's region, so it counts as a municipal online procedure."""
    leika = leika_key if leika_key and leika_key.isdigit() and len(leika_key) <= 20 else None
    return {
        "id": procedure_id,
        "name": (leistung_name or service_name or procedure_id)[:500],
        "scope": "municipal",
        "kind": "online",
        "url": url[:2000] if url else None,
        "leika_key": leika,
    }
