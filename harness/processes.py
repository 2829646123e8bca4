"""Services as real processes (`python -m services.<name>`), for end-to-end and fault tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from harness.infra import free_port
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def measured_commit() -> str:
    """The commit a measurement ran on, with `+changes` where tracked files differ from it (the results the bench
    and the fault runs write aside), so that a run on uncommitted code never passes for that commit's."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    changed = subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--", ".", ":(exclude)bench/results", ":(exclude)docs/RELIABILITY.md"], cwd=ROOT
    )
    return (commit.strip() or "unknown") + ("+changes" if changed.returncode == 1 else "")


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"}}
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "DATABASE_URL": settings.database_url,
            "FEED_SECRET": settings.feed_secret.get_secret_value() if settings.feed_secret else "",
            "ADMIN_TOKEN": settings.admin_token.get_secret_value() if settings.admin_token else "",
            "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
            "KAFKA_GROUP_PREFIX": settings.kafka_group_prefix,
            "KAFKA_PARTITIONS": str(settings.kafka_partitions),
            "KAFKA_SESSION_TIMEOUT_MS": str(settings.kafka_session_timeout_ms),
            "KAFKA_HEARTBEAT_INTERVAL_MS": str(settings.kafka_heartbeat_interval_ms),
            "KAFKA_ASSIGNMENT": settings.kafka_assignment,
            "LOG_JSON": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


async def run_module(settings: Settings, *args: str, timeout: float = 120, **env: str) -> tuple[int, str, str]:
    """`python -m ARGS...` against the settings' broker and database: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *args, cwd=ROOT, env=env_for(settings, **env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


class ServiceProcess:
    def __init__(self, name: str, settings: Settings, log_dir: Path, **extra: str) -> None:
        self.name = name
        self.port = free_port()
        self.env = env_for(settings, **{f"{name.upper()}_PORT": str(self.port), **extra})
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"], env=self.env, cwd=ROOT, stdout=log, stderr=log
        )

    async def ready(self, timeout: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with httpx.AsyncClient(base_url=self.url) as client:
            while True:
                assert self.proc and self.proc.poll() is None, f"{self.name} exited: {self.log_path.read_text()[-2000:]}"
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        return
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"{self.name} not ready after {timeout}s")
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextlib.asynccontextmanager
async def running(names: list[str], settings: Settings, log_dir: Path, **extra: str) -> AsyncIterator[dict[str, ServiceProcess]]:
    procs = {n: ServiceProcess(n, settings, log_dir, **extra) for n in names}
    try:
        for p in procs.values():
            p.start()
        await asyncio.gather(*(p.ready() for p in procs.values()))
        yield procs
    finally:
        for p in procs.values():
            if p.proc is not None:
                p.stop()
