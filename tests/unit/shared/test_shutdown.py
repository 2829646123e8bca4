"""Shutdown finishes even when a background task swallows its cancellation.

Python 3.11's `asyncio.wait_for` (used inside aiosmtplib, aiokafka and others) can drop a cancellation that races
the result it was waiting for; the task then runs on, and a single cancel-and-gather waits for ever.
"""

from __future__ import annotations

import asyncio

from shared.runtime import stop_tasks


async def test_a_task_that_swallows_one_cancellation_is_cancelled_again() -> None:
    cancels = 0

    async def stubborn() -> None:
        nonlocal cancels
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancels += 1
                if cancels == 1:
                    continue  # what the wait_for race does: the cancellation is lost
                raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_tasks([task], grace_s=0.05), timeout=5)
    assert task.cancelled() and cancels == 2


async def test_failed_and_finished_tasks_are_collected_without_raising() -> None:
    async def boom() -> None:
        raise RuntimeError("gone")

    async def done() -> int:
        return 1

    tasks = [asyncio.create_task(boom()), asyncio.create_task(done())]
    await asyncio.sleep(0)
    await stop_tasks(tasks, grace_s=0.05)
    assert all(t.done() for t in tasks)
