"""Ingest's HTTP API: the portal's signed push feed and per-authority snapshots."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import asyncpg
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import SecretStr, ValidationError

from services.ingest import feeds
from services.ingest.domain import Change
from services.ingest.schemas import (
    MAX_BODY_BYTES,
    MAX_CHANGES,
    ChangesIn,
    RawChangesIn,
    SnapshotIn,
    field_errors,
    future_error,
    latest_allowed,
    parse_body,
    parse_changes,
    parse_procedures,
)
from shared.authorities import Registry
from shared.signature import HEADER, signature_matches

SIGNATURE_HEADER = HEADER
log = structlog.get_logger(__name__)


class FeedRefused(Exception):
    """A refused feed request: nothing of it is stored; the handler turns it into its response."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def _refuse(status: int, message: str) -> FeedRefused:
    return FeedRefused(status, {"detail": message})


def _unprocessable(errors: list[dict[str, Any]]) -> FeedRefused:
    return FeedRefused(422, {"errors": errors})


REFUSED = Counter("ingest_feed_refusals_total", "feed requests refused, by status", ["status"])


class RefusalLog:
    """Refusals are counted always and logged at most once per interval and status, with how many there were:
    a flood of bad signatures must not become a flood of log lines."""

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s = every_s
        self.last: dict[int, float] = {}
        self.since: dict[int, int] = {}

    def note(self, status: int, detail: str) -> None:
        REFUSED.labels(str(status)).inc()
        self.since[status] = self.since.get(status, 0) + 1
        now = time.monotonic()
        if now - self.last.get(status, float("-inf")) >= self.every_s:
            log.warning("feed_refused", status=status, detail=detail[:200], refused_since_last_line=self.since[status])
            self.last[status], self.since[status] = now, 0


REFUSALS = RefusalLog()


async def on_feed_refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FeedRefused)
    REFUSALS.note(exc.status, str(exc.body.get("detail") or exc.body.get("errors", ""))[:200])
    return JSONResponse(exc.body, status_code=exc.status)


async def read_signed(request: Request, secret: SecretStr | None) -> bytes:
    """The raw body, only if it is small enough, signed with FEED_SECRET, and sent as JSON."""
    if secret is None or not secret.get_secret_value():
        raise _refuse(503, "feed disabled: FEED_SECRET is not configured")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise _refuse(413, f"body over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _refuse(413, f"body over {MAX_BODY_BYTES} bytes")
    if not signature_matches(bytes(body), secret.get_secret_value(), request.headers.get(SIGNATURE_HEADER, "")):
        raise _refuse(401, f"missing or bad {SIGNATURE_HEADER}")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise _refuse(415, "Content-Type must be application/json")
    return bytes(body)


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _unprocessable([{"index": None, "field": "body", "message": f"malformed JSON: {exc}"}]) from exc


def correlation_id(request: Request) -> str:
    """The request's id (X-Request-ID or a new one) ties together every event this request causes."""
    return getattr(request.state, "request_id", None) or str(uuid.uuid4())


_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "bad or missing signature"},
    413: {"description": "body over 5 MiB or over 5,000 changes"},
    415: {"description": "not application/json"},
    422: {"description": "invalid changes: `{errors: [{index, field, message}]}`"},
    503: {"description": "FEED_SECRET not configured"},
}


def _signed_body(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for a signed JSON body (the endpoints read the raw bytes themselves, to check the signature)."""
    return {
        "parameters": [{"name": SIGNATURE_HEADER, "in": "header", "required": True, "schema": {"type": "string"},
                        "description": "sha256=<hex HMAC-SHA256 of the raw body with FEED_SECRET>"}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
    }


def parsed_changes(body: bytes, registry: Registry) -> list[Change]:
    """A batch of changes, all valid, or a refusal naming every bad field."""
    if (fast := parse_body(body, registry)) is None:
        try:
            raw = RawChangesIn.model_validate(load_json(body)).changes
        except ValidationError as exc:
            raise _unprocessable(field_errors(exc, None)) from exc
        if len(raw) > MAX_CHANGES:
            raise _refuse(413, f"over {MAX_CHANGES} changes in one batch")
        fast = parse_changes(raw, registry)
    changes, errors = fast
    if len(changes) > MAX_CHANGES:
        raise _refuse(413, f"over {MAX_CHANGES} changes in one batch")
    if errors:
        raise _unprocessable(errors)
    return changes


def parsed_snapshot(authority_id: str, body: bytes, registry: Registry) -> tuple[SnapshotIn, list[dict[str, Any]]]:
    """One authority's snapshot, bound to the authority in the path, or a refusal naming the field."""
    data = load_json(body)
    if authority_id not in registry:
        raise _unprocessable(
            [{"index": None, "field": "authority_id", "message": f"unknown authority key {authority_id!r}"}])
    try:
        snapshot = SnapshotIn.model_validate(data)
    except ValidationError as exc:
        raise _unprocessable(field_errors(exc, None)) from exc
    if snapshot.authority_id != authority_id:
        raise _unprocessable([{"index": None, "field": "authority_id",
                               "message": f"the body is for {snapshot.authority_id!r}, the path for {authority_id!r}"}])
    if errors := future_error("as_of", snapshot.as_of, None, latest_allowed()):
        raise _unprocessable(errors)
    if len(snapshot.procedures) > MAX_CHANGES:
        raise _refuse(413, f"over {MAX_CHANGES} procedures in one snapshot")
    procedures, errors = parse_procedures(snapshot.procedures)
    if errors:
        raise _unprocessable(errors)
    return snapshot, procedures


def feed_router(pool: asyncpg.Pool, registry: Registry, secret: SecretStr | None) -> APIRouter:
    router = APIRouter(prefix="/v1/portal", tags=["portal feeds"])

    @router.post("/changes", status_code=202, summary="a batch of portal changes, all or nothing", responses=_REFUSALS,
                 openapi_extra=_signed_body(ChangesIn.model_json_schema()))
    async def post_changes(request: Request) -> JSONResponse:
        changes = parsed_changes(await read_signed(request, secret), registry)
        accepted, duplicates = await feeds.accept_changes(
            pool, changes, source="push", correlation_id=correlation_id(request)
        )
        return JSONResponse({"accepted": accepted, "duplicates": duplicates}, status_code=202)

    @router.put("/authorities/{authority_id}/procedures", summary="the full current list of one authority's procedures",
                responses=_REFUSALS, openapi_extra=_signed_body(SnapshotIn.model_json_schema()))
    async def put_snapshot(authority_id: str, request: Request) -> JSONResponse:
        snapshot, procedures = parsed_snapshot(authority_id, await read_signed(request, secret), registry)
        linked, unlinked = await feeds.apply_snapshot(
            pool, authority_id, snapshot.as_of, procedures, correlation_id=correlation_id(request)
        )
        return JSONResponse({"linked": linked, "unlinked": unlinked})

    return router
