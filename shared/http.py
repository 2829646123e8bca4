"""HTTP plumbing every service serves: health, readiness, Prometheus metrics, AsyncAPI docs."""

from __future__ import annotations

import asyncio
import hmac
import uuid
from typing import Any
from urllib.parse import unquote

import asyncpg
import structlog
from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from faststream.specification.asyncapi.site import get_asyncapi_html
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr

from shared.faults import is_infrastructure
from shared.health import Health

log = structlog.get_logger(__name__)


async def _check_db(pool: asyncpg.Pool) -> str | None:
    try:
        async with asyncio.timeout(2):
            await pool.fetchval("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        return type(exc).__name__
    return None


async def _check_broker(broker: KafkaBroker) -> str | None:
    try:
        return None if await broker.ping(timeout=2) else "unreachable"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure by its type name; nothing to re-raise
        return type(exc).__name__


def ops_router(service: str, pool: asyncpg.Pool, broker: KafkaBroker, health: Health) -> APIRouter:
    router = APIRouter(tags=["operations"])
    spec = AsyncAPI(broker, title=f"Digitales Amt - {service}", version="1.0.0")

    @router.get("/healthz", summary="the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get(
        "/readyz",
        summary="broker and database reachable, every consumer and background task working",
        responses={503: {"description": "not ready; `down` names the consumers and tasks that cannot work"}},
    )
    async def readyz() -> JSONResponse:
        db, kafka = await asyncio.gather(_check_db(pool), _check_broker(broker))
        problems = health.problems()
        body: dict[str, Any] = {"database": db or "ok", "broker": kafka or "ok", "down": problems}
        ready = db is None and kafka is None and not problems
        body["status"] = "ready" if ready else "not_ready"
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @router.get("/asyncapi.json", summary="AsyncAPI document of this service's topics")
    async def asyncapi_json() -> Response:
        return Response(spec.to_specification().to_json(), media_type="application/json")

    @router.get("/asyncapi", summary="AsyncAPI docs (HTML)", response_class=HTMLResponse)
    async def asyncapi_html() -> HTMLResponse:
        return HTMLResponse(get_asyncapi_html(spec.to_specification()))

    return router


def admin_only(token: SecretStr | None):  # noqa: ANN201 - a FastAPI dependency
    """Operator endpoints: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time; without a configured
    token they are disabled (503), never open."""

    async def admin(request: Request) -> None:
        if token is None or not token.get_secret_value():
            raise HTTPException(503, detail="admin endpoints disabled: ADMIN_TOKEN is not configured")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise HTTPException(401, detail="missing or bad admin token", headers={"WWW-Authenticate": "Bearer"})

    return admin


# Pages of this system load nothing from elsewhere and may not be framed; the API docs load their viewer from its CDN.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc", "/asyncapi")
EMBEDDABLE = ("image/svg+xml", "image/png")  # the signet may be embedded on an authority's own site


def secure_headers(path: str, headers: Any) -> None:
    """Every response: no content sniffing, no referrer; every HTML page: a Content-Security-Policy that forbids
    framing (the page's own, or the default) and X-Frame-Options for older browsers."""
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    kind = headers.get("content-type", "").split(";")[0].strip()
    if kind == "text/html":
        policy = headers.get("content-security-policy") or (DOCS_CSP if path.startswith(DOCS_PATHS) else PAGE_CSP)
        if "frame-ancestors" not in policy:
            policy += "; frame-ancestors 'none'"
        headers["Content-Security-Policy"] = policy
        headers.setdefault("X-Frame-Options", "DENY")
    elif kind not in EMBEDDABLE:
        headers.setdefault("X-Frame-Options", "DENY")


def new_app(service: str, description: str) -> FastAPI:
    app = FastAPI(title=f"Digitales Amt - {service}", description=description, version="1.0.0")

    @app.exception_handler(asyncpg.DataError)
    async def bad_data(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"invalid data: {exc}"}, 422)

    @app.middleware("http")
    async def bind_request(request: Request, call_next: Any) -> Response:
        if "\x00" in unquote(request.url.path) or "\x00" in unquote(request.url.query):
            refused = JSONResponse({"detail": "NUL characters are not allowed in the path or query"}, 400)
            secure_headers(request.url.path, refused.headers)
            return refused
        given = request.headers.get("x-request-id", "")
        request_id = given[:100] if given and given.isprintable() else str(uuid.uuid4())
        request.state.request_id = request_id
        with structlog.contextvars.bound_contextvars(request_id=request_id, path=request.url.path):
            response = await call_next(request)
        response.headers["X-Request-ID"] = request_id
        secure_headers(request.url.path, response.headers)
        return response

    async def failed(_: Request, exc: Exception) -> JSONResponse:
        """An outage answers 503 (try again later); a database error that is not one is a bug: traceback, 500."""
        if is_infrastructure(exc):
            log.warning("request_unavailable", error=repr(exc))
            return JSONResponse({"detail": "service temporarily unavailable", "error": type(exc).__name__}, 503)
        log.error("request_failed", exc_info=exc)
        return JSONResponse({"detail": "internal error"}, 500)

    for kind in (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError, TimeoutError, KafkaError):
        app.add_exception_handler(kind, failed)

    return app
