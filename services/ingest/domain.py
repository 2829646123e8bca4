"""Ingest's rules: which portal change wins for a link, and which link events a change of state means."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
