"""`make run`'s entry point on free ports: Ctrl-C in the middle of the demo, `make run` again, and nothing is lost
or doubled although the in-memory broker lost its log in between; Ctrl-C leaves no process behind."""

from __future__ import annotations

import asyncio
import csv
import email
import json
import os
import re
import signal
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from harness.infra import free_port
from harness.processes import ROOT
from shared.settings import SERVICES
from tests.conftest import eventually

PROGRESS = re.compile(rb"(\d+)/(\d+) changes")


def _processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/environ").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


class MakeRun:
    """One `python -m deploy.local_stack`, its output collected as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.output = b""
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> MakeRun:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "deploy.local_stack", cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc and self.proc.stdout
        while chunk := await self.proc.stdout.read(65536):
            self.output += chunk

    def text(self) -> str:
        return self.output.decode(errors="replace")

    async def until(self, done, timeout: float) -> None:  # noqa: ANN001
        async def seen() -> bool:
            assert self.proc and self.proc.returncode is None, self.text()[-3000:]
            return done(self.output)

        await eventually(seen, timeout=timeout, interval=0.2)

    async def ctrl_c(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(self.proc.wait(), 90)
        assert self._reader is not None
        await self._reader
        return code


def _current_holders() -> set[str]:
    rows = list(csv.DictReader((ROOT / "deploy" / "holders.sample.csv").open(encoding="utf-8")))
    return {r["authority_id"] for r in rows if not r["revoked_at"]}


def _sent_so_far(output: bytes) -> int:
    found = PROGRESS.findall(output)
    return int(found[-1][0]) if found else 0


def _case_opened_mails(mail_dir: Path) -> Counter[str]:
    """Authorities with a "Prüfung eröffnet" email, each as often as one reached the mail sink."""
    opened: Counter[str] = Counter()
    ids: Counter[str] = Counter()
    for path in mail_dir.glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes())
        ids[msg["Message-ID"]] += 1
        if msg["X-Digitales-Amt-Event"] == "CaseOpened":
            opened[msg["To"].removeprefix("poststelle-").partition("@")[0]] += 1
    assert all(n == 1 for n in ids.values()), "no message twice"
    return opened


async def every_eligible_authority_once(tmp_path: Path, ports: dict[str, int], output: str) -> None:
    """Eligible, exactly one review case and exactly one "Prüfung eröffnet" email for each authority of the demo."""
    eligible = sorted(json.loads((tmp_path / "demo_expected.json").read_text())["eligible"])
    assert 350 <= len(eligible) <= 450
    holders = _current_holders()
    assert len(holders) == 30 and holders <= set(eligible)
    expected = sorted(set(eligible) - holders)  # the imported holders get no award case
    token = (tmp_path / "demo_token").read_text().strip()
    assert token in output, "the console URL carries the demo token"
    async with httpx.AsyncClient(timeout=30) as http:
        async def all_eligible() -> bool:
            page = (await http.get(f"http://127.0.0.1:{ports['eligibility']}/v1/authorities",
                                   params={"eligible": "true", "limit": 1000})).json()
            got = sorted(i["authority_id"] for i in page["items"])
            assert got == eligible, (len(got), len(eligible))
            return True

        await eventually(all_eligible, timeout=180)

        async def one_case_each() -> bool:
            page = (await http.get(f"http://127.0.0.1:{ports['awards']}/v1/cases", params={"limit": 500},
                                   headers={"Authorization": f"Bearer {token}"})).json()
            got = Counter(c["authority_id"] for c in page["items"])
            assert page["total"] == len(expected) and sorted(got) == expected, (page["total"], len(expected))
            return True

        await eventually(one_case_each, timeout=120)
        listing = (await http.get(f"http://127.0.0.1:{ports['notify']}/v1/listing.json")).json()["items"]
        assert {i["authority_id"] for i in listing} >= holders, "the imported holders are listed from the start"

    async def one_email_each() -> bool:
        opened = _case_opened_mails(tmp_path / "mail")
        assert sorted(opened) == expected, (len(opened), len(expected))
        assert set(opened.values()) == {1}
        return True

    await eventually(one_email_each, timeout=180)


@pytest.mark.timeout(900)
async def test_make_run_interrupted_mid_demo_then_again_loses_and_doubles_nothing(database_url: str, tmp_path: Path) -> None:
    ports = {s: free_port() for s in SERVICES}
    env = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS", "SMTP_HOST", "FEED_SECRET"}}
    env.update({f"{s.upper()}_PORT": str(p) for s, p in ports.items()})
    env.update({
        "DATABASE_URL": database_url, "LOCAL_STACK_DIR": str(tmp_path), "LOCAL_BROKER_PORT": str(free_port()),
        "SMTP_PORT": str(free_port()), "MAIL_SINK_WEB_PORT": str(free_port()), "DEMO": "1", "PYTHONUNBUFFERED": "1",
        "KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500", "RELAY_CHECK_S": "1",
    })
    # First run: Ctrl-C at about a third of the demo, with consumers that take small batches (so they lag behind)
    # and no time to drain: thousands of events sit unread in the in-memory broker when it stops.
    first = await MakeRun({**env, "MAKE_RUN_DRAIN_S": "0", "CONSUMER_MAX_RECORDS": "20"}).start()
    try:
        await first.until(lambda out: _sent_so_far(out) >= 22_000, timeout=300)
    finally:
        await first.ctrl_c()
    assert "demo interrupted after" in first.text(), first.text()[-3000:]
    bars = [line for line in first.text().splitlines() if "demo feed [" in line]
    assert bars and all(line.startswith("demo feed [") for line in bars), "the progress bar has lines of its own"
    assert "stopping; letting relays and consumers finish" in first.text()
    assert _processes_with(str(tmp_path)) == [], "every process of the first run has stopped"

    second = await MakeRun(env).start()
    try:
        await second.until(lambda out: b"demo finished" in out, timeout=300)
        await every_eligible_authority_once(tmp_path, ports, second.text())
    finally:
        await second.ctrl_c()
    assert "make run: everything accepted was passed on" in second.text(), second.text()[-3000:]
    assert _processes_with(str(tmp_path)) == [], "every process make run started has stopped"
