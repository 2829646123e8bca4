"""The public statistics, computed from plain data: the holders (notify's own), the counts (eligibility's, when it
answers) and the reference list. No I/O here; the web layer fetches, caches and draws."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from shared.authorities import KIND_LABELS, Authority

ATTRIBUTION = [
    "Behörden: Statistisches Bundesamt (Destatis), Gemeindeverzeichnis GV100AD, Gebietsstand 30.11.2023; "
    "Datenlizenz Deutschland – Namensnennung – Version 2.0 (www.govdata.de/dl-de/by-2-0); Daten geändert "
    "(Auszug Bayern, Umformatierung).",
    "Grenzen: © GeoBasis-DE / BKG 2021 (Daten verändert) – VG5000, Stand 01.01.2021 – Datenlizenz Deutschland – "
    "Namensnennung – Version 2.0.",
    "Auszeichnungen und Zahlen: „Digitales Amt“, Bayerisches Staatsministerium für Digitales.",
]
BIN = 10
TOP_BIN = 100  # 100 and more in one bar


def holds_on(day: date, awarded: date, revoked: date | None) -> bool:
    return awarded <= day and (revoked is None or revoked > day)


def month_ends(first: date, last: date) -> list[date]:
    ends = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        nxt = date(year + month // 12, month % 12 + 1, 1)
        ends.append(min(last, date.fromordinal(nxt.toordinal() - 1)))
        year, month = nxt.year, nxt.month
    return ends


def holders_over_time(awards: Sequence[Mapping[str, Any]], today: date) -> list[dict[str, Any]]:
    """Holders at the end of each month, from the first award (imported ones included) to today."""
    if not awards:
        return []
    first = min(a["awarded_at"] for a in awards)
    return [
        {"month": f"{end:%Y-%m}", "holders": sum(holds_on(end, a["awarded_at"], a["revoked_on"]) for a in awards)}
        for end in month_ends(first, today)
    ]


def histogram(counts: Iterable[int]) -> list[dict[str, int]]:
    bins = Counter(min(c, TOP_BIN) // BIN for c in counts)
    return [{"from": b * BIN, "to": b * BIN + BIN - 1 if b * BIN < TOP_BIN else 10_000, "authorities": bins.get(b, 0)}
            for b in range(TOP_BIN // BIN + 1)]


def kreis_of(authority: Authority) -> str:
    """The Kreis (5-digit key) an authority belongs to; a Bezirk belongs to none."""
    return authority.key[:5] if len(authority.key) >= 5 else ""


def statistics(
    registry: Iterable[Authority], current: set[str], awards: Sequence[Mapping[str, Any]],
    counts: Mapping[str, tuple[int, int, bool]] | None, today: date, kreis_names: Mapping[str, str],
) -> dict[str, Any]:
    """`current`: keys of current holders; `counts`: key -> (count, threshold, eligible) as eligibility answers them,
    or None when eligibility is away."""
    authorities = list(registry)
    by_key = {a.key: a for a in authorities}
    holders = [by_key[k] for k in current if k in by_key]
    regions = sorted({a.region for a in authorities})
    per_kreis: dict[str, list[Authority]] = {}
    for a in authorities:
        if kreis := kreis_of(a):
            per_kreis.setdefault(kreis, []).append(a)
    stats: dict[str, Any] = {
        "authorities": len(authorities),
        "holders": {
            "total": len(holders),
            "by_region": {r: sum(h.region == r for h in holders) for r in regions},
            "by_kind": {label: sum(h.kind == kind for h in holders) for kind, label in KIND_LABELS.items()},
        },
        "holders_over_time": holders_over_time(awards, today),
        "kreise": [
            {"ags": ags, "name": kreis_names.get(ags, ags), "authorities": len(members),
             "holders": sum(m.key in current for m in members)}
            for ags, members in sorted(per_kreis.items())
        ],
        "counts_available": counts is not None,
        "counts": None,
        "closest": [],
    }
    if counts is not None:
        values = [counts[a.key][0] if a.key in counts else 0 for a in authorities]
        stats["counts"] = {"histogram": histogram(values), "eligible": sum(1 for *_, e in counts.values() if e)}
        below = sorted(((c, t, k) for k, (c, t, e) in counts.items() if not e and k in by_key),
                       key=lambda x: (x[1] - x[0], x[2]))  # the fewest missing first
        stats["closest"] = [
            {"authority_id": k, "name": by_key[k].display_name, "count": c, "threshold": t, "missing": t - c}
            for c, t, k in below[:10]
        ]
    return stats
