"""What the public sees: the listing of current holders, the signet, the verify page, and their JSON."""

from __future__ import annotations

import textwrap
from datetime import date
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from services.notify import repository
from services.notify.mail import TEMPLATES
from shared.authorities import Registry
from shared.settings import Settings

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}


class ListingItem(BaseModel):
    authority_id: str
    name: str
    kind: str
    district: str | None
    region: str
    award_number: str
    awarded_at: date


class Listing(BaseModel):
    items: list[ListingItem]


def _german(day: date) -> str:
    return day.strftime("%d.%m.%Y")


async def _listing(pool: asyncpg.Pool, registry: Registry) -> list[dict[str, Any]]:
    items = []
    for row in await repository.current_holders(pool):
        a = registry.get(row["authority_id"])
        if a is None:
            continue
        items.append({
            "authority_id": a.key, "name": a.name, "kind": a.kind, "kind_label": a.kind_label, "district": a.district,
            "region": a.region, "award_number": row["award_number"], "awarded_at": row["awarded_at"],
            "awarded_on": _german(row["awarded_at"]),
        })
    return items


def public_router(pool: asyncpg.Pool, registry: Registry, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["public"])
    base = settings.public_base_url.rstrip("/")

    @router.get("/", response_class=HTMLResponse, summary="the public listing of current holders (German)")
    async def listing_page(
        region: Annotated[str | None, Query(max_length=100)] = None,
        q: Annotated[str | None, Query(max_length=100)] = None,
    ) -> HTMLResponse:
        items = await _listing(pool, registry)
        region = region if region in registry.regions else None
        needle = (q or "").strip().casefold()
        shown = [i for i in items if (not region or i["region"] == region) and needle in i["name"].casefold()]
        html = TEMPLATES.get_template("listing.html.j2").render(
            items=shown, regions=registry.regions, region=region or "", q=(q or "").strip()
        )
        return HTMLResponse(html, headers=HEADERS)

    @router.get("/v1/listing.json", response_model=Listing, summary="current holders, newest first")
    async def listing_json() -> Listing:
        return Listing(items=[ListingItem(**i) for i in await _listing(pool, registry)])

    @router.get("/signet/{authority_id}.svg", summary="the online signet of a holder", responses={404: {}})
    async def signet(authority_id: str) -> Response:
        holder = await repository.holder_of(pool, authority_id)
        authority = registry.get(authority_id)
        if holder is None or authority is None:
            raise HTTPException(404, detail="no current award for this authority")
        lines = textwrap.wrap(authority.name, 24)[:2] or [authority.name]
        svg = TEMPLATES.get_template("signet.svg.j2").render(
            name=authority.name, name_lines=lines, name_size=22 if len(lines) > 1 else 26,
            year=holder["awarded_at"].year, award_number=holder["award_number"],
            verify_url=f"{base}/verify/{holder['award_number']}",
        )
        return Response(svg, media_type="image/svg+xml", headers={**HEADERS, "Cache-Control": "max-age=300"})

    @router.get("/verify/{award_number}", response_class=HTMLResponse, summary="is this award current?",
                responses={404: {}})
    async def verify(award_number: str) -> HTMLResponse:
        award = await repository.award(pool, award_number)
        authority = registry.get(award["authority_id"]) if award else None
        if award is None or authority is None:
            raise HTTPException(404, detail="unknown award number")
        html = TEMPLATES.get_template("verify.html.j2").render(
            award_number=award["award_number"], authority_id=authority.key, name=authority.name,
            kind_label=authority.kind_label, district=authority.district, region=authority.region,
            awarded_on=_german(award["awarded_at"]), revoked=award["revoked_at"] is not None,
            revoked_on=_german(award["revoked_at"].date()) if award["revoked_at"] else "",
        )
        return HTMLResponse(html, headers=HEADERS)

    return router
