"""The thin path through real `python -m services.<name>` processes, and their start-up refusals."""

from __future__ import annotations

import subprocess
import sys

import httpx

from harness.builders import change
from harness.processes import ROOT, env_for, running
from tests.conftest import eventually, signed


async def test_thin_path_through_real_processes(settings, tmp_path) -> None:
    async with running(["ingest", "eligibility"], settings, tmp_path) as procs:
        async with httpx.AsyncClient() as http:
            body = {"changes": [change("096", f"bezirk-{i}") for i in range(30)]}
            r = await http.post(f"{procs['ingest'].url}/v1/portal/changes", **signed(body))
            assert r.status_code == 202, r.text
            assert r.json() == {"accepted": 30, "duplicates": 0}

            async def eligible() -> dict:
                view = (await http.get(f"{procs['eligibility'].url}/v1/authorities/096")).json()
                assert view["count"] == 30, view["count"]
                return view

            view = await eventually(eligible, timeout=30)
            assert (view["name"], view["kind"], view["threshold"], view["eligible"]) == ("Unterfranken", "bezirk", 30, True)
            metrics = (await http.get(f"{procs['eligibility'].url}/metrics")).text
            assert 'events_consumed_total{consumer="eligibility"} 30.0' in metrics
            assert (await http.get(f"{procs['ingest'].url}/asyncapi.json")).json()["asyncapi"] == "3.0.0"
    for p in procs.values():
        assert p.proc is not None and p.proc.returncode == 0, p.log_path.read_text()[-2000:]


def test_a_service_without_its_broker_exits_with_a_one_line_reason(settings) -> None:
    env = env_for(settings, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", STARTUP_RETRIES="1", STARTUP_RETRY_DELAY_S="0.1")
    done = subprocess.run(
        [sys.executable, "-m", "services.notify"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("notify: cannot reach broker at 127.0.0.1:1"), last


def test_a_service_without_its_database_exits_with_a_one_line_reason(settings) -> None:
    env = env_for(
        settings,
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere",
        STARTUP_RETRIES="1",
        STARTUP_RETRY_DELAY_S="0.1",
    )
    done = subprocess.run(
        [sys.executable, "-m", "services.awards"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("awards: cannot reach database at 127.0.0.1:1/nowhere"), last
