"""What the public sees: the listing of current holders, the signet (SVG and PNG), the verify page, their JSON, and
German error pages for everything a person can reach."""

from __future__ import annotations

import textwrap
from datetime import date
from functools import lru_cache
from http import HTTPStatus
from typing import Annotated, Any

import asyncpg
import resvg_py
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.notify import domain, repository
from services.notify.mail import TEMPLATES
from shared.authorities import Authority, Registry
from shared.settings import Settings

PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'"
HEADERS = {"Content-Security-Policy": PAGE_CSP}
SIGNET_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'", "Cache-Control": "max-age=300"}
MACHINE_PATHS = ("/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc", "/asyncapi")
PNG_WIDTHS = (120, 600)


class ListingItem(BaseModel):
    authority_id: str
    name: str
    display_name: str = Field(description="addition: the name with its kind, e.g. `Landkreis Kitzingen`")
    kind: str
    district: str | None
    region: str
    award_number: str
    awarded_at: date


class Listing(BaseModel):
    items: list[ListingItem]


def _german(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.get_template(template).render(**context), status_code=status, headers=HEADERS)


ERROR_TEXTS = {
    404: ("Nicht gefunden", "Diese Seite gibt es nicht."),
    405: ("Nicht erlaubt", "Diese Seite lässt sich so nicht aufrufen."),
    410: ("Nicht mehr gültig", "Dieser Link gilt nicht mehr."),
    422: ("Ungültige Angaben", "Die Adresse enthält Angaben, die wir nicht lesen können."),
    503: ("Vorübergehend nicht erreichbar", "Bitte versuchen Sie es in einigen Minuten noch einmal."),
}


def error_page(status: int, message: str | None = None) -> HTMLResponse:
    title, default = ERROR_TEXTS.get(status, ("Fehler", "Die Anfrage konnte nicht bearbeitet werden."))
    return page("error.html.j2", status, title=title, message=message or default, status_code=status)


def install_error_pages(app: FastAPI) -> None:
    """A person who reaches a page that is not there gets a German page in the site's layout; the JSON endpoints
    keep answering JSON."""

    def for_people(request: Request) -> bool:
        return not request.url.path.startswith(MACHINE_PATHS)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if for_people(request):  # our own details are German; the framework's ("Not Found") are replaced
            ours = isinstance(exc.detail, str) and exc.detail != HTTPStatus(exc.status_code).phrase
            return error_page(exc.status_code, exc.detail if ours else None)
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if for_people(request):
            return error_page(422)
        return JSONResponse({"detail": exc.errors()}, 422)


async def _listing(pool: asyncpg.Pool, registry: Registry) -> list[dict[str, Any]]:
    items = []
    for row in await repository.current_holders(pool):
        a = registry.get(row["authority_id"])
        if a is None:
            continue
        items.append({
            "authority_id": a.key, "name": a.name, "display_name": a.display_name, "kind": a.kind,
            "kind_label": a.kind_label, "district": a.district, "region": a.region, "award_number": row["award_number"],
            "awarded_at": row["awarded_at"], "awarded_on": _german(row["awarded_at"]),
        })
    return items


def signet_svg(authority: Authority, award_number: str, year: int, verify_url: str) -> str:
    """The signet: a viewBox that scales to any width; below 240 px only the title and the year, which stay legible."""
    lines = textwrap.wrap(authority.display_name, 24)[:2] or [authority.display_name]
    return TEMPLATES.get_template("signet.svg.j2").render(
        name=authority.display_name, name_lines=lines, name_size=22 if len(lines) > 1 else 26, year=year,
        award_number=award_number, verify_url=verify_url,
    )


@lru_cache(maxsize=512)
def signet_png(svg: str, width: int) -> bytes:
    """Rendered by resvg (cached: the SVG of a holder changes only with its award)."""
    return resvg_py.svg_to_bytes(svg_string=svg, width=width)


def public_router(pool: asyncpg.Pool, registry: Registry, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["public"])
    base = settings.public_base_url.rstrip("/")

    async def holder_signet(authority_id: str) -> tuple[Authority, str, str]:
        holder = await repository.holder_of(pool, authority_id)
        authority = registry.get(authority_id)
        if holder is None or authority is None:
            raise HTTPException(404, detail="Für diese Behörde gibt es kein gültiges Signet „Digitales Amt“.")
        number = holder["award_number"]
        return authority, number, signet_svg(authority, number, holder["awarded_at"].year, f"{base}/verify/{number}")

    @router.get("/", response_class=HTMLResponse, summary="the public listing of current holders (German)")
    async def listing_page(
        region: Annotated[str | None, Query(max_length=100)] = None,
        q: Annotated[str | None, Query(max_length=100)] = None,
    ) -> HTMLResponse:
        items = await _listing(pool, registry)
        region = region if region in registry.regions else None
        needle = (q or "").strip().casefold()
        shown = [i for i in items if (not region or i["region"] == region) and needle in i["display_name"].casefold()]
        return page("listing.html.j2", items=shown, regions=registry.regions, region=region or "", q=(q or "").strip(),
                    threshold=settings.threshold_default, threshold_bezirk=settings.threshold_bezirk)

    @router.get("/v1/listing.json", response_model=Listing, summary="current holders, newest first")
    async def listing_json() -> Listing:
        return Listing(items=[ListingItem(**i) for i in await _listing(pool, registry)])

    @router.get("/signet/{authority_id}.svg", summary="the online signet of a holder (scales from 120 to 600 px)",
                responses={404: {}})
    async def signet(authority_id: str) -> Response:
        _, _, svg = await holder_signet(authority_id)
        return Response(svg, media_type="image/svg+xml", headers=SIGNET_HEADERS)

    @router.get("/signet/{authority_id}.png", summary="the signet as PNG, for places that cannot show SVG",
                responses={404: {}})
    async def signet_as_png(
        authority_id: str, width: Annotated[int, Query(ge=PNG_WIDTHS[0], le=PNG_WIDTHS[1])] = 480
    ) -> Response:
        _, _, svg = await holder_signet(authority_id)
        return Response(signet_png(svg, width), media_type="image/png", headers=SIGNET_HEADERS)

    @router.get("/verify/{award_number}", response_class=HTMLResponse, summary="is this award current?",
                responses={404: {}})
    async def verify(award_number: str) -> HTMLResponse:
        award = await repository.award(pool, award_number[:20])
        authority = registry.get(award["authority_id"]) if award else None
        if award is None or authority is None:
            raise HTTPException(404, detail=f"Eine Auszeichnung „Digitales Amt“ mit der Nummer {award_number[:20]} "
                                            "gibt es nicht.")
        verify_url = f"{base}/verify/{award['award_number']}"
        return page(
            "verify.html.j2", award_number=award["award_number"], authority=authority,
            awarded_on=_german(award["awarded_at"]), revoked=award["revoked_at"] is not None,
            revoked_on=_german(award["revoked_at"].date()) if award["revoked_at"] else "",
            snippet=domain.signet_snippet(base, authority.key, verify_url, authority.display_name),
        )

    return router
