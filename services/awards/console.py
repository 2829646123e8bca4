"""The reviewer console: one static page and its script, working over the API with the reviewer's token."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def console_router() -> APIRouter:
    router = APIRouter(tags=["console"])
    page = (HERE / "console.html").read_text(encoding="utf-8")
    script = (HERE / "console.js").read_text(encoding="utf-8")
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

    @router.get("/console", response_class=HTMLResponse, summary="the reviewer web console")
    async def console() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    @router.get("/console/app.js", include_in_schema=False)
    async def console_script() -> Response:
        return Response(script, media_type="text/javascript", headers=headers)

    return router
