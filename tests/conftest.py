"""Fixtures: one broker and one PostgreSQL server per run; a fresh database and topic prefix per test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from harness import infra
from services.awards.app import MIGRATIONS as AWARDS_MIGRATIONS
from services.eligibility.app import MIGRATIONS as ELIGIBILITY_MIGRATIONS
from services.ingest.app import MIGRATIONS as INGEST_MIGRATIONS
from services.notify.app import MIGRATIONS as NOTIFY_MIGRATIONS
from shared import db
from shared.logging import configure_logging
from shared.runtime import Build, service_runtime
from shared.settings import Settings
from shared.signature import portal_signature
from tests.support.browser import NO_BROWSER

MIGRATIONS = {
    "ingest": INGEST_MIGRATIONS,
    "eligibility": ELIGIBILITY_MIGRATIONS,
    "awards": AWARDS_MIGRATIONS,
    "notify": NOTIFY_MIGRATIONS,
}
FEED_SECRET = "test-feed-secret"
ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ARTIFACTS = Path(__file__).parent / "artifacts"


def pytest_report_header() -> list[str]:
    return infra.plan()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """A missing browser must not pass unnoticed: one line with how many browser tests did not run, and the remedy."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if NO_BROWSER in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} browser test{'s' if len(skipped) != 1 else ''} skipped: {NO_BROWSER}. "
            "Install it (Debian: apt-get install chromium; `make test` does so as root) and run again.",
            yellow=True, bold=True,
        )


@pytest.fixture(scope="session")
def kafka_url() -> Iterator[str]:
    with infra.kafka() as provided:
        print(f"\nbroker: {provided.how} at {provided.url}")
        yield provided.url


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    with infra.postgres() as provided:
        print(f"\ndatabase: {provided.how}")
        yield provided.url


@pytest.fixture(scope="session")
async def template_db(pg_server_url: str) -> AsyncIterator[str]:
    """A database migrated for every service once per run; each test copies it."""
    run = uuid.uuid4().hex[:8]
    name = f"da_test_{run}"
    url = db.with_database(pg_server_url, name)
    await db.ensure_database(url)
    for service, path in MIGRATIONS.items():
        await db.migrate(url, service, path)
    yield name
    admin = await asyncpg.connect(db.with_database(pg_server_url, "postgres"))
    try:
        for row in await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"{name}%"):
            await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await admin.close()


async def copy_of_template(pg_server_url: str, template_db: str) -> str:
    name = f"{template_db}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(db.with_database(pg_server_url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    finally:
        await admin.close()
    return db.with_database(pg_server_url, name)


@pytest.fixture
async def database_url(pg_server_url: str, template_db: str) -> str:
    return await copy_of_template(pg_server_url, template_db)


@pytest.fixture
def settings(kafka_url: str, database_url: str) -> Settings:
    return isolated_settings(kafka_url, database_url)


def isolated_settings(kafka_url: str, database_url: str) -> Settings:
    """Isolated topics and groups, short timeouts; the logs configured as run_service does."""
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_bootstrap_servers=kafka_url,
        database_url=database_url,
        feed_secret=FEED_SECRET,
        admin_token=ADMIN_TOKEN,
        kafka_topic_prefix=f"t{run}.",
        kafka_group_prefix=f"t{run}.",
        kafka_partitions=3,
        kafka_session_timeout_ms=6_000,
        kafka_heartbeat_interval_ms=500,
        consumer_retries=2,
        consumer_retry_backoff_s=0.01,
        startup_retries=2,
        startup_retry_delay_s=0.2,
    )
    configure_logging("tests", "INFO", json=True, secrets=settings.secrets())
    return settings


Started = tuple[Any, httpx.AsyncClient]
Start = Callable[..., Awaitable[Started]]


@pytest.fixture
async def start(settings: Settings) -> AsyncIterator[Start]:
    """Start a service in-process (database, broker, consumers, relay) and get an HTTP client on its app."""
    async with services_on(settings) as _start:
        yield _start


@pytest.fixture(scope="module")
async def module_settings(kafka_url: str, pg_server_url: str, template_db: str) -> Settings:
    """One database and topic prefix for a whole module, for modules whose tests only read what a fixture set up."""
    return isolated_settings(kafka_url, await copy_of_template(pg_server_url, template_db))


@pytest.fixture(scope="module")
async def module_start(module_settings: Settings) -> AsyncIterator[Start]:
    """`start` for a whole module: the services it starts run until the module's last test."""
    async with services_on(module_settings) as _start:
        yield _start


@contextlib.asynccontextmanager
async def services_on(settings: Settings) -> AsyncIterator[Start]:
    stack = contextlib.AsyncExitStack()

    async def _start(service: str, build: Build, override: Settings | None = None) -> Started:
        rt, app = await stack.enter_async_context(
            service_runtime(service, MIGRATIONS[service], build, override or settings)
        )
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}")
        )
        client.app = app  # type: ignore[attr-defined] - for tests that serve it on a real port
        return rt, client

    async with stack:
        yield _start


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A plain pool on the test database, for assertions across schemas."""
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert p is not None
    yield p
    await p.close()


def sign(body: bytes, secret: str = FEED_SECRET) -> str:
    return portal_signature(body, secret)


def signed(payload: Any, secret: str = FEED_SECRET) -> dict[str, Any]:
    """Keyword arguments for httpx: a JSON body with its portal signature."""
    body = json.dumps(payload).encode()
    return {
        "content": body,
        "headers": {"content-type": "application/json", "X-Portal-Signature": sign(body, secret)},
    }


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll until `check` returns something truthy without raising; re-raise its last failure otherwise.

    A failed assertion, a missing item or key (`[x] = []`, `items[0]`, `page["items"]`) and an unparsable answer
    mean "not yet"; anything else (a bug in the test or the code) is raised at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await check()
            if result:
                return result
            last: BaseException | None = AssertionError(f"still {result!r} after {timeout}s")
        except (AssertionError, LookupError, ValueError) as exc:
            last = exc
        if time.monotonic() > deadline:
            assert last is not None
            raise last
        await asyncio.sleep(interval)
