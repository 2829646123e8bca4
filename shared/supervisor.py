"""Background tasks (outbox relay, mailer, PVOG poller, housekeeping) run under one supervisor.

A task that raises is logged (with its traceback when the fault is not an outage), reported down in `/readyz`,
and restarted after a capped, growing delay. A task reports progress by calling its `beat`, which marks it up
again; so a task that keeps failing stays visible, and one that recovers clears itself.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import structlog

from shared.faults import classify
from shared.health import Health

log = structlog.get_logger(__name__)

Beat = Callable[[], None]
Job = Callable[[Beat], Awaitable[None]]


def backoff_delay(failures: int, *, base_s: float = 0.5, cap_s: float = 30.0) -> float:
    """Exponential in the number of consecutive failures, capped, with jitter so that instances spread out."""
    delay = min(cap_s, base_s * 2 ** max(0, failures - 1))
    return random.uniform(delay / 2, delay)


async def supervise(name: str, job: Job, health: Health, *, base_s: float = 0.5, cap_s: float = 30.0) -> None:
    """Run `job` until it returns; restart it whenever it raises."""
    component = f"task:{name}"
    failures = 0

    def beat() -> None:
        nonlocal failures
        failures = 0
        health.up(component)

    while True:
        try:
            await job(beat)
            health.up(component)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the supervisor is the one place that catches everything: it
            # reports the task down in /readyz, logs the outage (or a bug's traceback), and restarts the task.
            failures += 1
            fault = classify(exc)
            health.down(component, f"{type(exc).__name__}: {exc}")
            delay = backoff_delay(failures, base_s=base_s, cap_s=cap_s)
            if fault in ("infrastructure", "race"):
                log.warning("task_failed", task=name, fault=fault, error=repr(exc), restart_in_s=round(delay, 2))
            else:
                log.exception("task_failed", task=name, fault=fault, restart_in_s=round(delay, 2))
            await asyncio.sleep(delay)
