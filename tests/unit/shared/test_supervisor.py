"""Background tasks run under one supervisor: a failing task is reported down, restarted, and clears itself."""

from __future__ import annotations

import asyncio

from shared.health import Health
from shared.supervisor import backoff_delay, supervise


async def test_a_failing_task_is_reported_down_restarted_and_up_once_it_beats() -> None:
    health = Health()
    reported: list[dict[str, str]] = []
    runs = 0
    working = asyncio.Event()
    finish = asyncio.Event()

    async def job(beat) -> None:  # noqa: ANN001
        nonlocal runs
        runs += 1
        reported.append(health.problems())
        if runs < 3:
            raise RuntimeError(f"boom {runs}")
        beat()
        working.set()
        await finish.wait()

    task = asyncio.create_task(supervise("worker", job, health, base_s=0.001, cap_s=0.002))
    await asyncio.wait_for(working.wait(), 5)
    assert runs == 3
    assert reported[0] == {}
    assert list(reported[1]) == ["task:worker"] and "RuntimeError: boom 1" in reported[1]["task:worker"]
    assert "RuntimeError: boom 2" in reported[2]["task:worker"]
    assert health.ok, "a beat clears the task"
    finish.set()
    await asyncio.wait_for(task, 5)


async def test_an_outage_keeps_the_task_down_until_it_works_again() -> None:
    health = Health()
    attempts = 0
    down_while_failing = asyncio.Event()

    async def job(beat) -> None:  # noqa: ANN001
        nonlocal attempts
        attempts += 1
        if attempts >= 4 and not health.ok:
            down_while_failing.set()
        if attempts < 6:
            raise ConnectionRefusedError(111, "database away")
        beat()

    await asyncio.wait_for(supervise("mailer", job, health, base_s=0.001, cap_s=0.002), 5)
    assert down_while_failing.is_set()
    assert attempts == 6 and health.ok


def test_the_delay_grows_and_is_capped() -> None:
    delays = [backoff_delay(n, base_s=1, cap_s=8) for n in range(1, 8)]
    assert all(0.5 <= d <= 1 for d in delays[:1])
    assert all(4 <= d <= 8 for d in delays[4:])
