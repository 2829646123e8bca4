"""The public side beyond the listing: a page per authority (its count, what counts and what does not, its award or
review, advice on what to link next), statistics with charts and a map, and exports.

Counts and procedures are eligibility's: notify asks its API (ELIGIBILITY_URL) and never reads its tables. When
eligibility does not answer, the pages show what notify knows itself (awards, reviews) and say what is missing.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
import httpx
import structlog
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.notify import charts, domain, repository, stats
from services.notify.web import _german, _listing, page
from shared.authorities import Authority, Registry
from shared.settings import Settings

log = structlog.get_logger(__name__)

SCOPES = {"municipal": "kommunal", "central": "zentral (Freistaat)"}
NOT_COUNTED = {
    "information": "Informationsseite – kein Antrag, der online gestellt wird",
    "print_form": "Formular zum Ausdrucken – wird nicht online eingereicht",
}
PEERS = {"municipality": "Gemeinden, Märkten und Städten", "kreisfreie_stadt": "kreisfreien Städten",  # after "von"
         "landkreis": "Landkreisen", "verwaltungsgemeinschaft": "Verwaltungsgemeinschaften", "bezirk": "Bezirken"}
LEVELS = {"district": "im Landkreis {area}", "region": "im Regierungsbezirk {area}", "state": "in Bayern"}
STATISTICS_TTL_S = 60.0


class Eligibility:
    """What notify asks eligibility: one authority with its procedures, its advice, everyone's counts."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _get(self, path: str, **params: Any) -> Any | None:
        """The JSON answer, or None when eligibility does not answer (the page then says so)."""
        try:
            response = await self.http.get(path, params=params)
        except httpx.HTTPError as exc:
            log.warning("eligibility_unreachable", error=repr(exc))
            return None
        return response.json() if response.status_code == 200 else None

    async def authority(self, authority_id: str) -> dict[str, Any] | None:
        return await self._get(f"/v1/authorities/{authority_id}")

    async def advice(self, authority_id: str) -> dict[str, Any] | None:
        return await self._get(f"/v1/authorities/{authority_id}/advice", limit=10)

    async def counts(self) -> dict[str, tuple[int, int, bool]] | None:
        """authority_id -> (count, threshold, eligible), as eligibility answers them."""
        body = await self._get("/v1/authorities", limit=5000)
        return {i["authority_id"]: (i["count"], i["threshold"], i["eligible"]) for i in body["items"]} if body else None


class Cached:
    """One value, recomputed at most every `ttl_s`; while it is being recomputed the old one is served."""

    def __init__(self, compute: Callable[[], Awaitable[Any]], ttl_s: float) -> None:
        self.compute, self.ttl_s = compute, ttl_s
        self.value: Any = None
        self.at = float("-inf")
        self.refreshing: asyncio.Task[None] | None = None

    async def get(self) -> Any:
        if self.value is None:
            await self._refresh()
        elif time.monotonic() - self.at > self.ttl_s and (self.refreshing is None or self.refreshing.done()):
            self.refreshing = asyncio.create_task(self._refresh())
        return self.value

    async def _refresh(self) -> None:
        self.value, self.at = await self.compute(), time.monotonic()


def procedure_rows(procedures: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(counted, linked but not counted with why), each with German labels."""
    counted, other = [], []
    for p in procedures:
        row = {**p, "scope_label": SCOPES.get(p.get("scope") or "", p.get("scope") or "–"),
               "since": _german(datetime.fromisoformat(p["linked_at"]).date()) if p.get("linked_at") else "–"}
        if p.get("counted"):
            counted.append(row)
        else:
            row["why"] = NOT_COUNTED.get(p.get("kind") or "", f"Zuständigkeit „{p.get('scope')}“ – zählt nur kommunal "
                                                              "oder zentral angebotene Verfahren")
            other.append(row)
    return counted, other


def advice_text(advice: dict[str, Any], item: dict[str, Any]) -> str:
    where = LEVELS[advice["level"]].format(area=advice["area"])
    return f"von {item['peers_linking']} von {advice['peers']} {PEERS[advice['peer_group']]} {where} verlinkt"


async def authority_profile(pool: asyncpg.Pool, eligibility: Eligibility, authority: Authority) -> dict[str, Any]:
    """What the public page of one authority shows: its count and what counts, its award or review, advice."""
    found, advice = await asyncio.gather(eligibility.authority(authority.key), eligibility.advice(authority.key))
    awards = await repository.awards_of(pool, authority.key)
    current = next((a for a in awards if a["revoked_at"] is None), None)
    review = await repository.open_review(pool, authority.key)
    counted, other = procedure_rows(found["procedures"]) if found else ([], [])
    below = found is not None and not found["eligible"]  # eligibility's rule, as its API answers it
    return {
        "authority_id": authority.key, "name": authority.name, "display_name": authority.display_name,
        "kind": authority.kind, "district": authority.district, "region": authority.region,
        "counts_available": found is not None,
        "count": found["count"] if found else None, "threshold": found["threshold"] if found else None,
        "eligible": found["eligible"] if found else None,
        "counted": counted, "not_counted": other,
        "award": {"award_number": current["award_number"], "awarded_at": current["awarded_at"].isoformat()}
        if current else None,
        "review": {"kind": review["kind"], "opened_at": review["opened_at"].isoformat()} if review else None,
        "advice": [{**i, "text": advice_text(advice, i)} for i in advice["items"]] if advice and below else [],
    }


async def compute_statistics(pool: asyncpg.Pool, registry: Registry, settings: Settings, eligibility: Eligibility
                             ) -> dict[str, Any]:
    """The statistics' numbers and charts (drawn in a thread: matplotlib is CPU-bound)."""
    awards = [dict(r) for r in await repository.all_awards(pool)]
    current = {a["authority_id"] for a in awards if a["revoked_on"] is None}
    names = {f["properties"]["ags"]: f["properties"]["name"] for f in charts.kreise()}
    today = datetime.now(UTC).astimezone(domain.BERLIN).date()
    s = stats.statistics(registry, current, awards, await eligibility.counts(), today, names)
    s["thresholds"] = {"default": settings.threshold_default, "bezirk": settings.threshold_bezirk}
    s["generated_at"] = datetime.now(UTC).isoformat()
    s["attribution"] = stats.ATTRIBUTION
    s["charts"] = await asyncio.to_thread(draw, s)
    return s


def authorities_router(pool: asyncpg.Pool, registry: Registry, eligibility: Eligibility) -> APIRouter:
    router = APIRouter(tags=["public"])

    def known(authority_id: str) -> Authority:
        authority = registry.get(authority_id)
        if authority is None:
            raise HTTPException(404, detail=f"Eine Behörde mit dem Schlüssel {authority_id[:20]} gibt es nicht.")
        return authority

    @router.get("/behoerden", response_class=HTMLResponse, summary="search every authority by name or key")
    async def search(q: Annotated[str, Query(max_length=100)] = "") -> HTMLResponse:
        needle = " ".join(q.split()).casefold()
        found = [a for a in registry if needle and (a.key.startswith(needle) or needle in a.display_name.casefold())]
        return page("search.html.j2", q=q.strip(), found=sorted(found, key=lambda a: a.display_name)[:100],
                    more=max(0, len(found) - 100))

    @router.get("/behoerden/{authority_id}", response_class=HTMLResponse, summary="one authority's page (German)",
                responses={404: {}})
    async def authority_page(authority_id: str) -> HTMLResponse:
        authority = known(authority_id)
        p = await authority_profile(pool, eligibility, authority)
        signet = f"/signet/{authority.key}.svg" if p["award"] else None
        return page("authority.html.j2", a=authority, p=p, signet=signet,
                    awarded_on=_german(datetime.fromisoformat(p["award"]["awarded_at"]).date()) if p["award"] else "",
                    review_since=_german(datetime.fromisoformat(p["review"]["opened_at"]).date()) if p["review"] else "")

    @router.get("/v1/behoerden/{authority_id}", summary="one authority's page as JSON", responses={404: {}})
    async def authority_json(authority_id: str) -> JSONResponse:
        authority = registry.get(authority_id)
        if authority is None:
            raise HTTPException(404, detail=f"unknown authority key {authority_id[:20]!r}")
        return JSONResponse(await authority_profile(pool, eligibility, authority))

    return router


def statistics_router(pool: asyncpg.Pool, registry: Registry, settings: Settings, eligibility: Eligibility) -> APIRouter:
    router = APIRouter(tags=["public"])
    statistics = Cached(lambda: compute_statistics(pool, registry, settings, eligibility), STATISTICS_TTL_S)

    @router.get("/statistik", response_class=HTMLResponse, summary="statistics with charts and a map (German)")
    async def statistics_page() -> HTMLResponse:
        return page("statistics.html.j2", s=await statistics.get())

    @router.get("/v1/statistics.json", summary="the statistics' numbers, with the data sources")
    async def statistics_json() -> JSONResponse:
        s = await statistics.get()
        return JSONResponse({k: v for k, v in s.items() if k != "charts"})

    @router.get("/v1/listing.csv", summary="the current holders as CSV (the fields of listing.json)",
                response_class=Response)
    async def listing_csv() -> Response:
        out = io.StringIO()
        for line in stats.ATTRIBUTION:
            out.write(f"# {line}\n")
        fields = ["authority_id", "name", "display_name", "kind", "district", "region", "award_number", "awarded_at"]
        writer = csv.DictWriter(out, fields, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for item in await _listing(pool, registry):
            writer.writerow({**item, "awarded_at": item["awarded_at"].isoformat()})
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'inline; filename="digitales-amt-verzeichnis.csv"'})

    return router


def draw(s: dict[str, Any]) -> dict[str, str]:
    """The charts of the statistics page (matplotlib; run in a thread, cached with the numbers)."""
    h = s["holders"]
    out = {
        "by_region": charts.bars("by-region", "Ausgezeichnete Behörden nach Regierungsbezirk", list(h["by_region"]),
                                 list(h["by_region"].values()), "Behörden"),
        "by_kind": charts.bars("by-kind", "Ausgezeichnete Behörden nach Art", list(h["by_kind"]),
                               list(h["by_kind"].values()), "Behörden"),
        "over_time": charts.line("over-time", "Ausgezeichnete Behörden im Zeitverlauf (Monatsende)",
                                 [m["month"] for m in s["holders_over_time"]],
                                 [m["holders"] for m in s["holders_over_time"]], "Behörden"),
        "map": charts.choropleth("map", "Anteil der ausgezeichneten Behörden je Landkreis und kreisfreier Stadt",
                                 {k["ags"]: (k["name"], k["holders"], k["authorities"]) for k in s["kreise"]}),
    }
    if s["counts"]:
        bins = s["counts"]["histogram"]
        edges = [b["from"] for b in bins] + [bins[-1]["from"] + stats.BIN]
        out["histogram"] = charts.histogram("histogram", "Verteilung der gezählten Online-Verfahren aller Behörden",
                                            edges, [b["authorities"] for b in bins], s["thresholds"]["default"])
    return out
