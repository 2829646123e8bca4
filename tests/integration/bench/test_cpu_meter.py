"""The bench's CPU meter against a real PostgreSQL: a process of ours, and a database backend by its application."""

from __future__ import annotations

import os

import asyncpg
import pytest

from bench.cpu import CpuMeter, cpu_seconds


async def test_the_meter_counts_our_process_and_a_backend_by_the_application_that_opened_it(database_url) -> None:
    conn = await asyncpg.connect(database_url, server_settings={"application_name": "meter-test"})
    try:
        if cpu_seconds(await conn.fetchval("SELECT pg_backend_pid()")) is None:
            pytest.skip("the database server runs where this machine's /proc cannot see it (a container)")
        idle = CpuMeter(database_url, {"tests": os.getpid()})
        async with idle.running(every_s=0.05):
            await conn.fetchval("SELECT 1")
        busy = CpuMeter(database_url, {"tests": os.getpid()})
        async with busy.running(every_s=0.05):
            await conn.fetchval("SELECT count(*) FROM generate_series(1, 10000000)")
            sum(i * i for i in range(6_000_000))
    finally:
        await conn.close()
    # What each had used before the meter started does not count: both the backend and this process had (/proc counts
    # in ticks of 10 ms; the busy parts take a few hundred ms each, the idle ones a few ms).
    assert busy.totals()["postgres meter-test"] > 0.05 > idle.totals().get("postgres meter-test", 0.0)
    assert busy.totals()["tests"] > 0.05 > idle.totals()["tests"]
