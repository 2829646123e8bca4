"""PostgreSQL plumbing: the database, each service's schema and migrations (dbmate), and its asyncpg pool."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"


class MigrationError(RuntimeError):
    pass


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


# Query parameters that say where and how to connect (a Unix socket's directory is `host`); any other is a server
# setting such as `search_path`.
_CONNECTION_PARAMS = frozenset({
    "host", "port", "user", "password", "dbname", "passfile", "connect_timeout", "target_session_attrs",
    "sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "sslcrl", "sslnegotiation",
})


def _strip_query(url: str) -> tuple[str, dict[str, str]]:
    """The URL with its connection parameters only, and the server settings its query names."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    connection = {k: v for k, v in query.items() if k in _CONNECTION_PARAMS}
    return urlunsplit(parts._replace(query=urlencode(connection))), {k: v for k, v in query.items() if k not in connection}


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def ensure_database(url: str) -> None:
    """Create the database named in `url` if it does not exist yet."""
    name = database_name(url)
    conn = await asyncpg.connect(with_database(url, "postgres"), timeout=10)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await conn.execute(f'CREATE DATABASE "{name.replace(chr(34), "")}"')
    finally:
        await conn.close()


def _dbmate_bin() -> str:
    beside = Path(sys.executable).parent / "dbmate"
    return str(beside) if beside.exists() else (shutil.which("dbmate") or "dbmate")


async def migrate(url: str, schema: str, migrations_dir: Path) -> None:
    """Apply the shared plumbing migrations and the service's own, forward-only, under dbmate's lock."""
    dsn = _with_query(url, search_path=schema)
    if "sslmode" not in dict(parse_qsl(urlsplit(url).query)):
        dsn = _with_query(dsn, sslmode="disable")
    proc = await asyncio.create_subprocess_exec(  # the URL (with any password) in its environment, not in `ps`
        _dbmate_bin(),
        "--migrations-dir", str(SHARED_MIGRATIONS),
        "--migrations-dir", str(migrations_dir),
        "--migrations-table", "schema_migrations",
        "--migration-lock",
        "--no-dump-schema",
        "migrate",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "DATABASE_URL": dsn},
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        text = out.decode(errors="replace").strip()
        if password := urlsplit(url).password:
            text = text.replace(password, "***")
        raise MigrationError(f"dbmate failed for schema {schema}: {text}")


async def create_pool(url: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    base, query = _strip_query(url)
    query.pop("search_path", None)
    pool = await asyncpg.create_pool(
        base,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": schema, "application_name": schema, **query},
        timeout=10,
        command_timeout=60,
    )
    assert pool is not None
    return pool


# The server notices a peer that vanished without closing its connection within seconds, not hours.
KEEPALIVE = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3",
             "tcp_user_timeout": "10000"}


async def connect(url: str, schema: str) -> asyncpg.Connection:
    """A dedicated connection outside the pool (used for LISTEN and the relay's lease)."""
    base, query = _strip_query(url)
    query.pop("search_path", None)
    return await asyncpg.connect(
        base, server_settings={"search_path": schema, "application_name": f"{schema}-worker", **KEEPALIVE, **query},
        timeout=10, command_timeout=30,
    )


class Wakeup:
    """A LISTEN channel as an event: a NOTIFY on it (or `set()`) ends the current or next `sleep`.

    The relay and the mailer work until nothing is left, then sleep until woken or until their next check is due.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    async def listen(self, conn: asyncpg.Connection, channel: str) -> None:
        await conn.add_listener(channel, lambda *_: self._event.set())

    def set(self) -> None:
        self._event.set()

    async def sleep(self, timeout: float) -> None:
        """Until woken or `timeout` seconds; a wake-up that came before the call ends it at once."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout=timeout)
        self._event.clear()
