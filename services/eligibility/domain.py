"""Eligibility's rules: what counts, each authority's threshold, and exactly one event per crossing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

COUNTED_SCOPES = frozenset({"municipal", "central"})
COUNTED_KINDS = frozenset({"online"})

_EVENT_NS = uuid5(NAMESPACE_URL, "https://digitales-amt.example/eligibility")

LinkKey = tuple[str, str]  # (authority_id, procedure_id)


def counts(kind: str | None, scope: str | None) -> bool:
    """Only procedures filled in and sent online, offered municipally or centrally, make an authority digital."""
    return kind in COUNTED_KINDS and scope in COUNTED_SCOPES


def threshold_for(kind: str, default: int, bezirk: int) -> int:
    """A Bezirk offers fewer procedures to citizens than a municipality, so its bar is lower (30 vs 50); every
    other kind (Gemeinde, Markt, Stadt, Landkreis, Verwaltungsgemeinschaft) has the default."""
    return bezirk if kind == "bezirk" else default


# Value objects below are not frozen only because frozen dataclasses are slow to build in the batch's hot loop;
# nothing mutates them.
@dataclass(slots=True)
class Link:
    linked: bool
    counted: bool
    occurred_at: datetime
    change_id: str
    name: str | None = None
    scope: str | None = None
    kind: str | None = None
    linked_at: datetime | None = None
    url: str | None = None


@dataclass(slots=True)
class LinkChange:
    """One link event, reduced to what eligibility needs."""

    event_id: UUID
    correlation_id: str
    authority_id: str
    procedure_id: str
    linked: bool
    occurred_at: datetime
    change_id: str
    name: str | None = None
    scope: str | None = None
    kind: str | None = None
    url: str | None = None

    @property
    def key(self) -> LinkKey:
        return (self.authority_id, self.procedure_id)


@dataclass(slots=True)
class Standing:
    """An authority's count, its threshold, the eligibility last announced in an event, and how many threshold
    events were announced for it (each event carries its number, so a consumer can tell a stale one)."""

    count: int
    threshold: int
    announced_eligible: bool
    announced: int = 0


@dataclass(frozen=True, slots=True)
class Crossing:
    event_id: UUID
    correlation_id: str
    authority_id: str
    direction: Literal["crossed", "lost"]
    count: int
    threshold: int
    sequence: int


@dataclass
class Outcome:
    links: dict[LinkKey, Link]
    standings: dict[str, Standing]
    crossings: list[Crossing]


def is_eligible(count: int, threshold: int) -> bool:
    """The rule itself: at least as many counted procedures as the threshold."""
    return count >= threshold


def announce(authority_id: str, s: Standing, cause: object, correlation_id: str) -> tuple[Standing, Crossing | None]:
    """A crossing only when the count's side of the threshold differs from the side last announced."""
    now_eligible = is_eligible(s.count, s.threshold)
    if now_eligible == s.announced_eligible:
        return s, None
    direction: Literal["crossed", "lost"] = "crossed" if now_eligible else "lost"
    sequence = s.announced + 1
    crossing = Crossing(
        uuid5(_EVENT_NS, f"{cause}:{direction}"), correlation_id, authority_id, direction, s.count, s.threshold,
        sequence,
    )
    return Standing(s.count, s.threshold, now_eligible, sequence), crossing


def apply_changes(
    links: Mapping[LinkKey, Link],
    standings: Mapping[str, Standing],
    changes: Iterable[LinkChange],
    threshold_of: Callable[[str], int],
) -> Outcome:
    """Apply link events in order; a change older than the stored one is ignored, so replays change nothing.

    Every event is applied on its own, so a count that crosses and falls back within one batch still yields
    both events, exactly as if the events had come one by one.
    """
    out = Outcome(links={}, standings={}, crossings=[])
    thresholds: dict[str, int] = {}
    for c in changes:
        key = (c.authority_id, c.procedure_id)
        before = out.links.get(key) or links.get(key)
        if before is not None and (c.occurred_at, c.change_id) <= (before.occurred_at, before.change_id):
            continue
        was_counted = before is not None and before.linked and before.counted
        if c.linked:
            since = before.linked_at if before is not None and before.linked else None
            after = Link(
                True, counts(c.kind, c.scope), c.occurred_at, c.change_id, c.name, c.scope, c.kind,
                since or c.occurred_at, c.url,
            )
        else:
            after = Link(False, False, c.occurred_at, c.change_id)
        out.links[key] = after
        delta = int(after.counted) - int(was_counted)
        standing = out.standings.get(c.authority_id) or standings.get(c.authority_id)
        threshold = thresholds.get(c.authority_id)
        if threshold is None:
            threshold = thresholds[c.authority_id] = threshold_of(c.authority_id)
        if standing is None:
            standing = Standing(delta, threshold, False)
        elif delta or standing.threshold != threshold:
            standing = Standing(standing.count + delta, threshold, standing.announced_eligible, standing.announced)
        standing, crossing = announce(c.authority_id, standing, c.event_id, c.correlation_id)
        out.standings[c.authority_id] = standing
        if crossing:
            out.crossings.append(crossing)
    return out


# --- advice: what to link next ---------------------------------------------------------------------------------

PeerGroup = Literal["municipality", "kreisfreie_stadt", "landkreis", "verwaltungsgemeinschaft", "bezirk"]
Level = Literal["district", "region", "state"]
MIN_PEERS = 3  # fewer authorities to compare with say little; look wider


def peer_group(kind: str) -> PeerGroup:
    """Who is comparable: a Gemeinde, a Markt and a Stadt in a Landkreis offer the same procedures to citizens."""
    return "municipality" if kind in ("gemeinde", "markt", "stadt") else kind  # type: ignore[return-value]


def peers(authority: Any, everyone: Iterable[Any], level: Level) -> list[Any]:
    """The authorities of the same group as `authority` in its Landkreis, its Regierungsbezirk, or all of Bavaria."""
    group = peer_group(authority.kind)
    return [
        a for a in everyone
        if a.key != authority.key and peer_group(a.kind) == group
        and (level == "state" or (level == "region" and a.region == authority.region)
             or (level == "district" and authority.district is not None and a.district == authority.district))
    ]


def advice_levels(authority: Any, everyone: Iterable[Any]) -> list[tuple[Level, list[Any]]]:
    """The levels to ask, narrowest first, each with its peers; a level with fewer than MIN_PEERS is skipped."""
    everyone = list(everyone)
    out = []
    for level in ("district", "region", "state"):
        group = peers(authority, everyone, level)  # type: ignore[arg-type]
        if len(group) >= MIN_PEERS or level == "state":
            out.append((level, group))
    return out  # type: ignore[return-value]
