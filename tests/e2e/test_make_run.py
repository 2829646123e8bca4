"""`make run`'s entry point on free ports: the demo runs to the end, the numbers add up, Ctrl-C leaves nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx

from shared.settings import SERVICES
from tests.conftest import eventually
from tests.support.infra import free_port
from tests.support.processes import ROOT


def _processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/environ").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


async def test_make_run_demo_then_ctrl_c(database_url: str, tmp_path: Path) -> None:
    ports = {s: free_port() for s in SERVICES}
    env = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS", "SMTP_HOST", "FEED_SECRET"}}
    env.update({f"{s.upper()}_PORT": str(p) for s, p in ports.items()})
    env.update({
        "DATABASE_URL": database_url, "LOCAL_STACK_DIR": str(tmp_path), "LOCAL_BROKER_PORT": str(free_port()),
        "SMTP_PORT": str(free_port()), "MAIL_SINK_WEB_PORT": str(free_port()), "DEMO": "1", "PYTHONUNBUFFERED": "1",
        "KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    })
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.local_stack", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    lines: list[str] = []
    try:
        async def finished() -> None:
            assert proc.stdout is not None
            while line := (await proc.stdout.readline()).decode(errors="replace"):
                lines.append(line)
                if line.strip() in {"demo finished", "stack ready"} or line.startswith("make run:"):
                    return

        await asyncio.wait_for(finished(), 300)
        assert lines[-1].strip() == "demo finished", "".join(lines[-30:])
        drain = asyncio.create_task(_drain(proc))
        expected = json.loads((tmp_path / "demo_expected.json").read_text())["eligible"]
        assert 350 <= len(expected) <= 450
        async with httpx.AsyncClient() as http:
            async def eligible() -> list[str]:
                page = (await http.get(f"http://127.0.0.1:{ports['eligibility']}/v1/authorities",
                                       params={"eligible": "true", "limit": 1000})).json()
                got = sorted(i["authority_id"] for i in page["items"])
                assert got == sorted(expected), (len(got), len(expected))
                return got

            await eventually(eligible, timeout=60)

            async def one_email_per_case() -> bool:
                return len(list((tmp_path / "mail").glob("*.eml"))) == len(expected)

            await eventually(one_email_per_case, timeout=120)
            token = (tmp_path / "demo_token").read_text().strip()
            cases = (await http.get(f"http://127.0.0.1:{ports['awards']}/v1/cases", params={"limit": 1},
                                    headers={"Authorization": f"Bearer {token}"})).json()
            assert cases["total"] == len(expected)
        assert any("reviewer console:" in line and token in line for line in lines)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 60)
    await asyncio.sleep(1)
    assert _processes_with(str(tmp_path)) == [], "every process make run started has stopped"


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while await proc.stdout.read(65536):
        pass
