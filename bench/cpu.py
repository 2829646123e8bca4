"""Where the CPU goes while a part of the bench runs: our processes by name, PostgreSQL's backends by the
application that opened them (`ingest`, `ingest-worker` for the relay, `eligibility`, ...) and its own processes by
type (autovacuum, io workers, checkpointer). Read from /proc every quarter second, so a process that lives for less
than that (a short autovacuum run) is partly missed; a database server on another machine is not seen at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import asyncpg

_TICK = os.sysconf("SC_CLK_TCK")
_BACKENDS = "SELECT pid, coalesce(nullif(application_name, ''), backend_type) AS name FROM pg_stat_activity"


def cpu_seconds(pid: int) -> float | None:
    """User and system time of a living process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15 of stat)


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


class CpuMeter:
    """CPU seconds per component from `start` on; `processes` maps a name to a pid and may grow while it runs."""

    def __init__(self, admin_url: str, processes: Mapping[str, int]) -> None:
        self.admin_url = admin_url
        self.processes = dict(processes)
        self._names: dict[int, str] = {}
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, seconds in self._last.items():
            name = self._names.get(pid, "postgres other")
            out[name] = out.get(name, 0.0) + seconds - self._first[pid]
        return out

    async def _sample(self, conn: asyncpg.Connection, *, baseline: bool = False) -> None:
        """Each process's time now; at the baseline, what it had used before (not counted). A process seen later
        started during the measurement: all of its time counts. A process keeps the name it was first seen with
        (a backend that is ending has already left pg_stat_activity)."""
        for name, pid in self.processes.items():
            self._names.setdefault(pid, name)
        for r in await conn.fetch(_BACKENDS):
            self._names.setdefault(r["pid"], f"postgres {r['name']}")
        for pid in [*self.processes.values(), *_postgres_pids()]:
            if (seconds := cpu_seconds(pid)) is not None:
                self._first.setdefault(pid, seconds if baseline else 0.0)
                self._last[pid] = seconds

    @contextlib.asynccontextmanager
    async def running(self, every_s: float = 0.25) -> AsyncIterator[CpuMeter]:
        conn = await asyncpg.connect(self.admin_url)
        await self._sample(conn, baseline=True)
        stop = asyncio.Event()

        async def loop() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), every_s)
                await self._sample(conn)

        task = asyncio.create_task(loop())
        try:
            yield self
        finally:
            stop.set()
            await task
            await conn.close()


def breakdown(totals: Mapping[str, float], tag: str, units: float, seconds: float, unit: str) -> dict[str, float]:
    """Figures for the results: cores in use on average, and CPU microseconds per unit (per Zuständigkeit, say) of
    each component that took at least 1 % of the whole."""
    whole = sum(totals.values())
    out = {f"{tag}_cpu_cores": whole / seconds, f"{tag}_cpu_us_per_{unit}": 1e6 * whole / units}
    for name, used in sorted(totals.items(), key=lambda kv: -kv[1]):
        if used >= 0.01 * whole:
            out[f"{tag}_cpu_us_per_{unit}_{name.replace(' ', '_').replace('-', '_')}"] = 1e6 * used / units
    return out
