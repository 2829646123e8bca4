"""Start-up and shutdown of one service: database, migrations, topics, broker, outbox relay, HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import httpx
import structlog
import uvicorn
import uvloop
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from shared import db
from shared.faults import UNREACHABLE
from shared.health import Health
from shared.logging import configure_logging
from shared.outbox import OutboxRelay
from shared.retention import prune_forever
from shared.settings import Settings
from shared.supervisor import Job, supervise
from shared.topics import ensure_topics

log = structlog.get_logger(__name__)
T = TypeVar("T")
GC_GEN0_THRESHOLD = 50_000


class StartupError(Exception):
    """A dependency could not be reached after the start-up retries; the message is the one-line reason."""


@dataclass
class Runtime:
    service: str
    settings: Settings
    pool: asyncpg.Pool
    broker: Broker
    health: Health = field(default_factory=Health)
    background: dict[str, Job] = field(default_factory=dict)  # supervised tasks besides the relay and housekeeping
    on_stop: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)  # e.g. closing an HTTP client
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)  # other services' APIs, by name
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # tests may set another

    def connect(self) -> Awaitable[asyncpg.Connection]:
        """A dedicated connection outside the pool, for LISTEN and leader locks."""
        return db.connect(self.settings.database_url, self.service)


Build = Callable[[Runtime], FastAPI]


async def retry_startup(what: str, settings: Settings, fn: Callable[[], Awaitable[T]]) -> T:
    """`fn` until it works, at most STARTUP_RETRIES more times while its dependency cannot be reached."""
    last: BaseException | None = None
    for attempt in range(settings.startup_retries + 1):
        try:
            return await fn()
        except UNREACHABLE as exc:
            last = exc
            log.warning("startup_waiting", dependency=what, attempt=attempt + 1, error=repr(exc))
            await asyncio.sleep(settings.startup_retry_delay_s)
    raise StartupError(f"cannot reach {what} after {settings.startup_retries + 1} attempts: {last or repr(last)}")


async def stop_tasks(tasks: list[asyncio.Task[Any]], *, grace_s: float = 1.0) -> None:
    """Cancel the tasks and wait for them; cancel again what is still running after `grace_s`.

    Python 3.11's `asyncio.wait_for` (inside aiosmtplib, aiokafka, ...) can lose a cancellation that races the result
    it waits for; the task then runs on, and one cancel-and-gather would wait for ever.
    """
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=grace_s)
        if pending:
            log.warning("task_ignored_cancel", tasks=sorted(t.get_name() for t in pending))
    await asyncio.gather(*tasks, return_exceptions=True)


def _settle_gc() -> None:
    """Move everything start-up allocated (modules, registry, schemas) out of the collector's sight, and collect
    the young generation less often: a batch of 1,000 events allocates ~20,000 objects, which at the default
    threshold (700) means dozens of collections per batch and full ones over the whole heap every few batches.

    A service process starts with the collector off (services/*/__main__.py: its imports create ~90,000 objects
    that live as long as the process, and collecting among them cost ~0.2 s of a 1.4 s start); what start-up left
    as garbage is then a few hundred objects, frozen with the rest rather than spending ~0.1 s to find them. Where
    the collector ran all along (a runtime inside the tests' process), garbage is collected before the freeze."""
    if gc.isenabled():
        gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)
    gc.enable()


async def close_pool(pool: asyncpg.Pool, *, grace_s: float = 10.0) -> None:
    """Close the pool gracefully, or terminate its connections if one is still held after `grace_s`."""
    try:
        await asyncio.wait_for(pool.close(), timeout=grace_s)
    except TimeoutError:
        log.warning("pool_close_timeout", grace_s=grace_s)
        pool.terminate()


def _where_db(url: str) -> str:
    parts = urlsplit(url)
    return f"database at {parts.hostname}:{parts.port or 5432}{parts.path}"


class Broker(KafkaBroker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.documented_only: list[Any] = []  # subscribers in the AsyncAPI document whose records leases read

    async def start(self) -> None:
        """Start every subscriber at once (FastStream starts them one after another): the members of one consumer
        group then join in one round instead of a rebalance per member, each waiting out the group's join delay."""
        await self.connect()
        skip = {id(sub) for sub in self.documented_only}
        await asyncio.gather(*(sub.start() for sub in self.subscribers if id(sub) not in skip))
        for pub in self.publishers:
            await pub.start()
        self.running = True


def new_broker(settings: Settings) -> Broker:
    return Broker(
        settings.bootstrap_list,
        acks="all",
        enable_idempotence=False,
        request_timeout_ms=15_000,
        linger_ms=2,
        client_id="digitales-amt",
        logger=logging.getLogger("faststream.access"),
        log_level=logging.DEBUG,
    )


@contextlib.asynccontextmanager
async def service_runtime(
    service: str, migrations_dir: Path, build: Build, settings: Settings | None = None
) -> AsyncIterator[tuple[Runtime, FastAPI]]:
    """Everything of one service but its HTTP listener; tests drive the yielded app through ASGI."""
    settings = settings or Settings()
    url = settings.database_url
    where = _where_db(url)
    await retry_startup(where, settings, lambda: db.ensure_database(url))
    await retry_startup(where, settings, lambda: db.migrate(url, service, migrations_dir))
    pool = await retry_startup(where, settings, lambda: db.create_pool(url, service))
    try:
        await retry_startup(f"broker at {settings.kafka_bootstrap_servers}", settings, lambda: ensure_topics(settings))
        broker = new_broker(settings)
        rt = Runtime(service, settings, pool, broker)
        app = build(rt)
        await retry_startup(f"broker at {settings.kafka_bootstrap_servers}", settings, broker.start)
        relay = OutboxRelay(settings)
        keep = timedelta(days=settings.retention_days)
        jobs: dict[str, Job] = {
            "outbox-relay": lambda beat: relay.run(rt.connect, beat),
            "housekeeping": lambda beat: prune_forever(pool, keep, beat),
            **rt.background,
        }
        tasks = [
            asyncio.create_task(supervise(name, job, rt.health, cap_s=settings.retry_max_backoff_s), name=f"{service}-{name}")
            for name, job in jobs.items()
        ]
        app.state.relay = relay
        app.state.health = rt.health
        try:
            _settle_gc()
            log.info("service_started", service=service)
            yield rt, app
        finally:
            await stop_tasks(tasks)
            await broker.stop()
            for stop in rt.on_stop:
                await stop()
    finally:
        await close_pool(pool)


class _Server(uvicorn.Server):
    """uvicorn without its signal re-raise, so the service's own shutdown (broker, relay, pool) runs to the end."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


async def _serve(service: str, migrations_dir: Path, build: Build, settings: Settings) -> None:
    async with service_runtime(service, migrations_dir, build, settings) as (_, app):
        config = uvicorn.Config(
            app,
            host=settings.bind_host,
            port=settings.port_of(service),
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        server = _Server(config)
        try:
            await server.serve()
        except SystemExit:
            server.started = False
        if not server.started:
            raise StartupError(f"cannot listen on {settings.bind_host}:{settings.port_of(service)}")


def run_service(
    service: str, migrations_dir: Path, build: Build, refuses: Callable[[Settings], list[str]] = lambda _: []
) -> int:
    """`python -m services.<name>`: serve until SIGINT/SIGTERM; non-zero with a one-line reason on failure, also
    when `refuses` finds the configuration unsafe."""
    settings = Settings()
    configure_logging(service, settings.log_level, settings.log_json, settings.secrets())
    if problems := refuses(settings):
        print(f"{service}: refusing to start: {'; '.join(problems)}", file=sys.stderr)
        return 1
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # uvloop: asyncpg's and aiokafka's I/O
            runner.run(_serve(service, migrations_dir, build, settings))
    except (StartupError, db.MigrationError) as exc:
        print(f"{service}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


@contextlib.asynccontextmanager
async def database_only(service: str, migrations_dir: Path, settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """The service's migrated database without broker or HTTP, for command-line jobs."""
    url = settings.database_url
    where = _where_db(url)
    await retry_startup(where, settings, lambda: db.ensure_database(url))
    await retry_startup(where, settings, lambda: db.migrate(url, service, migrations_dir))
    pool = await retry_startup(where, settings, lambda: db.create_pool(url, service, max_size=4))
    try:
        yield pool
    finally:
        await close_pool(pool)


def run_command(
    service: str, migrations_dir: Path, job: Callable[[asyncpg.Pool, Settings], Awaitable[int | None]]
) -> int:
    """A sub-command against the service's database; events it writes go out through the service's relay."""
    gc.enable()  # off since the entry point (see _settle_gc); a command has no long-lived heap to freeze
    settings = Settings()
    configure_logging(service, settings.log_level, settings.log_json, settings.secrets())

    async def main() -> int | None:
        async with database_only(service, migrations_dir, settings) as pool:
            return await job(pool, settings)

    try:
        return asyncio.run(main()) or 0
    except (StartupError, db.MigrationError) as exc:
        print(f"{service}: {exc}", file=sys.stderr)
        return 1
