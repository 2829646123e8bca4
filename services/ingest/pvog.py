"""The PVOG pull: page through the Bereitstelldienst, apply each page with its cursor in one transaction."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import asyncpg
import httpx
import structlog
from prometheus_client import Counter
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from services.ingest import domain, repository, xzufi
from services.ingest.domain import Change
from services.ingest.feeds import apply_in_tx
from shared.authorities import registry
from shared.events.portal import PROCEDURE_ID_MAX

log = structlog.get_logger(__name__)
T = TypeVar("T")

PAGES = Counter("pvog_pages_total", "PVOG pages applied")
TIES_SKIPPED = Counter("pvog_ties_skipped_total", "Zustaendigkeiten that are no link", ["reason"])
ERRORS = Counter("pvog_errors_total", "PVOG syncs that stopped on an error, by reason", ["reason"])
MAX_PAGE_BYTES = 2 * xzufi.MAX_DOCUMENT_BYTES  # the JSON envelope around at most one document


class PvogError(Exception):
    """The feed cannot be read; the message is the one-line reason, `reason` a short label for the metric."""

    def __init__(self, message: str, reason: str = "feed") -> None:
        super().__init__(message)
        self.reason = reason


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: the feed is followed, and its token sent, only where the configured feed lives."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def next_page_url(current: str, feed_url: str, given: Any) -> str:
    """The page after `current`: `naechsteAnfrageUrl` resolved against it, refused unless on the feed's origin."""
    if given is None or given == "":
        return current
    if not isinstance(given, str):
        raise PvogError(f"naechsteAnfrageUrl is not a string but {type(given).__name__}", "next_url")
    resolved = urljoin(current, given)
    if origin(resolved) != origin(feed_url):
        raise PvogError(
            f"naechsteAnfrageUrl points to {origin(resolved)[1] or resolved!r}, not to the feed's origin; not followed",
            "next_url",
        )
    return resolved


@dataclass(frozen=True)
class Page:
    xml: bytes
    complete: bool
    next_url: Any  # as sent; checked by `next_page_url`


@dataclass
class SyncResult:
    pages: int = 0
    linked: int = 0
    unlinked: int = 0


class _Retryable(Exception):
    pass


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _Retryable | httpx.TransportError)


class ClientCredentials(httpx.Auth):
    """OAuth2 client-credentials grant as an httpx auth flow: fetch a token, renew it on expiry or a 401."""

    requires_response_body = True

    def __init__(self, token_url: str, client_id: str, client_secret: str) -> None:
        self.token_url = token_url
        self.basic = httpx.BasicAuth(client_id, client_secret)
        self.token: str | None = None
        self.expires_at = 0.0

    def _token_request(self) -> httpx.Request:
        request = httpx.Request("POST", self.token_url, data={"grant_type": "client_credentials"})
        return next(self.basic.auth_flow(request))

    def _take(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise PvogError(f"token endpoint answered HTTP {response.status_code}", "token")
        try:
            body = response.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PvogError(f"token endpoint answered 200 without a usable access_token ({exc!r})", "token") from exc
        if not isinstance(token, str) or not token.strip():
            raise PvogError("token endpoint answered 200 without a usable access_token", "token")
        self.token = token
        self.expires_at = time.monotonic() + lifetime - 30

    def auth_flow(self, request: httpx.Request):  # noqa: ANN201 - httpx's generator protocol
        if self.token is None or time.monotonic() >= self.expires_at:
            self._take((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            self._take((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


def new_client(
    *, token_url: str | None = None, client_id: str | None = None, client_secret: str | None = None,
    timeout: float = 30.0,
) -> httpx.AsyncClient:
    """An HTTP client for the feed; with OAuth2 client credentials when a token URL is configured."""
    auth = ClientCredentials(token_url, client_id or "", client_secret or "") if token_url else None
    return httpx.AsyncClient(timeout=timeout, auth=auth)


async def fetch(client: httpx.AsyncClient, url: str, *, attempts: int = 5, backoff: float = 0.5) -> Page:
    """One page, retrying connection errors and 5xx with exponential backoff and jitter."""
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(multiplier=backoff, max=10),
            reraise=True,
        ):
            with attempt:
                response, content = await _get_bounded(client, url)
                if response.status_code >= 500:
                    raise _Retryable(f"HTTP {response.status_code}")
    except (_Retryable, httpx.TransportError) as exc:
        raise PvogError(f"cannot read {url}: {exc}", "unreachable") from exc
    if response.status_code != 200:
        raise PvogError(f"cannot read {url}: HTTP {response.status_code}", "http")
    try:
        body = json.loads(content)
        xml = body.get("xzufiObjekte")
    except (ValueError, AttributeError) as exc:
        raise PvogError(f"cannot read {url}: not a Bereitstelldienst page ({exc})", "page") from exc
    if xml is not None and not isinstance(xml, str):
        raise PvogError(f"cannot read {url}: xzufiObjekte is not a string but {type(xml).__name__}", "page")
    return Page((xml or "").encode(), bool(body.get("vollstaendig")), body.get("naechsteAnfrageUrl"))


def _last_of_each(items: list[T], key: Callable[[T], Hashable]) -> list[T]:
    """A page may repeat an object; the last occurrence is its state (and one upsert may touch a row only once)."""
    return list({key(i): i for i in items}.values())


async def _get_bounded(client: httpx.AsyncClient, url: str) -> tuple[httpx.Response, bytes]:
    """A page, read only up to MAX_PAGE_BYTES: a page over it is refused without holding it in memory."""
    async with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_PAGE_BYTES:
            raise PvogError(f"cannot read {url}: a page of {declared} bytes is over {MAX_PAGE_BYTES}", "page_size")
        content = bytearray()
        async for chunk in response.aiter_bytes():
            content += chunk
            if len(content) > MAX_PAGE_BYTES:
                raise PvogError(f"cannot read {url}: the page is over {MAX_PAGE_BYTES} bytes", "page_size")
    return response, bytes(content)


def _tie_rows(doc: xzufi.Document) -> tuple[list[tuple[str, ...]], list[tuple[str, str]]]:
    reg = registry()
    rows: list[tuple[str, ...]] = []
    replaced: list[tuple[str, str]] = []
    for tie in _last_of_each(doc.ties, lambda t: t.id):
        if not tie.is_link:
            TIES_SKIPPED.labels("not_an_online_service").inc()
            continue
        replaced.append((tie.id.agency, tie.id.value))
        leistung = (tie.leistung.agency, tie.leistung.value) if tie.leistung else None
        service = (tie.service.agency, tie.service.value)
        procedure_id = domain.pvog_procedure_id(leistung, service)
        if len(procedure_id) > PROCEDURE_ID_MAX:  # ids of any length in XZuFi; no event could carry this one
            TIES_SKIPPED.labels("procedure_id_too_long").inc()
            continue  # its earlier regions, if any, are deactivated with the rest of `replaced`
        for region in tie.regions:
            authority = domain.authority_for_region(region, reg.__contains__)
            if authority is None:
                TIES_SKIPPED.labels("region_without_authority").inc()
            rows.append((
                tie.id.agency, tie.id.value, region, *service, leistung[0] if leistung else None,
                leistung[1] if leistung else None, authority, procedure_id,
            ))
    return rows, replaced


async def apply_page(conn: asyncpg.Connection, doc: xzufi.Document, page_key: str) -> list[Any]:
    """Store the page's objects and emit the links whose resolved state they change."""
    services = await repository.upsert_services(
        conn, [(s.id.agency, s.id.value, s.name, s.url) for s in _last_of_each(doc.services, lambda s: s.id)]
    )
    leistungen = await repository.upsert_leistungen(
        conn, [(le.id.agency, le.id.value, le.name, le.leika_key) for le in _last_of_each(doc.leistungen, lambda le: le.id)]
    )
    rows, replaced = _tie_rows(doc)
    deleted = [(d.id.agency, d.id.value) for d in doc.deletions if d.klasse == "Zustaendigkeit"]
    affected = await repository.deactivate_ties(conn, replaced + deleted)
    await repository.upsert_ties(conn, rows)
    affected |= {(r[7], r[8]) for r in rows if r[7] is not None}
    affected |= await repository.links_of_objects(conn, services, leistungen)
    resolved = await repository.resolved_links(conn, affected)
    now = datetime.now(UTC)
    changes = []
    for authority_id, procedure_id in sorted(affected):
        r = resolved.get((authority_id, procedure_id))
        action = "linked" if r else "unlinked"
        procedure = (
            domain.pvog_procedure(procedure_id, r["service_name"], r["url"], r["leistung_name"], r["leika_key"])
            if r else {"id": procedure_id}
        )
        change_id = f"pvog:{page_key}:{authority_id}:{procedure_id}:{action}"
        changes.append(Change(change_id, now, action, authority_id, procedure))  # type: ignore[arg-type]
    _, events = await apply_in_tx(conn, "pvog", changes, correlation_id=f"pvog:{page_key}")
    return events


async def _read(client: httpx.AsyncClient, url: str, feed_url: str, backoff: float) -> tuple[Page, xzufi.Document, str]:
    """A page fetched and parsed (in a thread, so that it overlaps the database work on the page before it)."""
    page = await fetch(client, url, backoff=backoff)
    next_url = next_page_url(url, feed_url, page.next_url)
    if not page.xml.strip():
        return page, xzufi.Document([], [], [], []), next_url
    try:
        return page, await asyncio.to_thread(xzufi.parse, page.xml), next_url
    except xzufi.XZuFiError as exc:
        raise PvogError(f"cannot read page {url}: {exc}", "xml") from exc


async def sync(
    pool: asyncpg.Pool, client: httpx.AsyncClient, feed_url: str, *, max_pages: int | None = None, backoff: float = 0.5
) -> SyncResult:
    """Read the feed from its durable cursor to the end (`vollstaendig`); each page commits with its cursor.

    The next page is fetched and parsed while the current one is applied; it is applied only after the current
    one has committed, so a failure anywhere leaves the cursor on the first page not applied."""
    feed = hashlib.sha256(feed_url.encode()).hexdigest()[:16]
    result = SyncResult()
    async with pool.acquire() as lock_conn:
        if not await repository.try_lock_pvog(lock_conn, feed_url):
            raise PvogError("another PVOG sync of this feed is running")
        ahead: asyncio.Task[tuple[Page, xzufi.Document, str]] | None = None
        try:
            url, pages = await repository.pvog_cursor(pool, feed_url) or (feed_url, 0)
            ahead = asyncio.create_task(_read(client, url, feed_url, backoff))
            while ahead is not None:
                page, doc, next_url = await ahead
                last = page.complete or (max_pages is not None and result.pages + 1 >= max_pages)
                ahead = None if last else asyncio.create_task(_read(client, next_url, feed_url, backoff))
                async with pool.acquire() as conn, conn.transaction():
                    events = await apply_page(conn, doc, f"{feed}:{pages + 1}")
                    await repository.save_pvog_cursor(conn, feed_url, next_url, pages + 1)
                pages += 1
                result.pages += 1
                linked = sum(e.event_type == "ProcedureLinked" for e in events)
                result.linked += linked
                result.unlinked += len(events) - linked
                PAGES.inc()
                log.info("pvog_page_applied", url=url, objects=len(doc.services) + len(doc.leistungen) + len(doc.ties),
                         linked=linked, unlinked=len(events) - linked)
                url = next_url
        finally:
            if ahead is not None:  # a page read ahead of one that failed: not applied, its cursor not moved
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)  # its own error, if any, is not this one's
            await repository.unlock_pvog(lock_conn, feed_url)
    return result


async def poll(
    pool: asyncpg.Pool, client: httpx.AsyncClient, feed_url: str, interval_s: float, beat: Callable[[], None],
    *, first_retry_s: float = 5.0,
) -> None:
    """Run a sync every `interval_s`. A feed that cannot be read (a bad page, token or link) is counted, logged and
    tried again sooner, with growing delays up to the interval; it does not make the service unready, as the push
    feeds still work. A database outage or a bug raises, to the supervisor, which reports it and restarts."""
    failures = 0
    while True:
        try:
            result = await sync(pool, client, feed_url)
            log.info("pvog_sync_done", pages=result.pages, linked=result.linked, unlinked=result.unlinked)
            failures = 0
        except PvogError as exc:
            failures += 1
            ERRORS.labels(exc.reason).inc()
            log.warning("pvog_sync_failed", reason=exc.reason, error=str(exc), failures=failures)
        beat()
        await asyncio.sleep(min(interval_s, first_retry_s * 2 ** (failures - 1)) if failures else interval_s)


def describe(result: SyncResult) -> str:
    return json.dumps({"pages": result.pages, "linked": result.linked, "unlinked": result.unlinked})
