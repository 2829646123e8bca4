"""Partitions shared by leases in PostgreSQL (KAFKA_ASSIGNMENT=leases, the default) between real processes: a
process that joins gets its share, one killed with SIGKILL leaves its share to the others at once, one that stops
gives its share back, and the counts are exact throughout."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

from deploy.drain import outstanding
from harness.builders import linked_event
from harness.infra import free_port, tansu
from harness.kafka import produce
from harness.processes import ServiceProcess
from shared.topics import ensure_topics
from tests.conftest import eventually

LINKS = "portal.procedure-links.v1"
AUTHORITIES = ["09675141", "09663000", "09162000", "09675", "091", "096"]
HOLDERS = """
SELECT m.backend_pid, count(*) AS partitions FROM eligibility.partition_lease l
JOIN eligibility.consumer_member m USING (consumer, topic, member) GROUP BY 1 ORDER BY 2 DESC
"""


def events(start: int, n: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(start, start + n):
        e = linked_event(AUTHORITIES[i % len(AUTHORITIES)], f"p-{i // len(AUTHORITIES)}")
        out.append((e.authority_id, e.to_json()))
    return out


async def test_processes_share_partitions_and_a_killed_ones_share_moves_on(settings, tmp_path) -> None:
    assert settings.kafka_assignment == "leases"
    one = {"ELIGIBILITY_CONSUMERS": "1"}  # one member per process: the shares are visible per process
    first = ServiceProcess("eligibility", settings, tmp_path / "first", **one)
    second = ServiceProcess("eligibility", settings, tmp_path / "second", **one)
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    conn = await asyncpg.connect(settings.database_url)

    async def holders() -> list[int]:
        return [r["partitions"] for r in await conn.fetch(HOLDERS)]

    async def counts() -> dict[str, int]:
        return {r["authority_id"]: r["count"] for r in await conn.fetch("SELECT * FROM eligibility.authority_count")}

    async def committed() -> bool:
        return not any(what.startswith("eligibility <-") for what in await outstanding(settings))

    try:
        await produce(settings, LINKS, events(0, 120))
        first.start()
        await first.ready()
        partitions = await eventually(lambda: conn.fetchval("SELECT count(*) FROM eligibility.partition_lease"))
        assert await eventually(lambda: _equal(holders, [partitions]))
        second.start()
        await second.ready()
        half = [partitions - partitions // 2, partitions // 2]
        assert await eventually(lambda: _equal(holders, half))  # the second got its share from the first
        await produce(settings, LINKS, events(120, 120))
        assert await eventually(lambda: _equal(counts, {a: 40 for a in AUTHORITIES}))

        first.kill()  # its connection is gone: the second takes its share at its next heartbeat
        assert await eventually(lambda: _equal(holders, [partitions]))
        async with httpx.AsyncClient(base_url=second.url) as http:
            metrics = (await http.get("/metrics")).text
        held = f'consumer_partitions_held{{consumer="{settings.group_id("eligibility")}",topic="{LINKS}"}}'
        assert f"{held} {float(partitions)}" in metrics
        await produce(settings, LINKS, events(240, 120))
        assert await eventually(lambda: _equal(counts, {a: 60 for a in AUTHORITIES}))
        assert await eventually(committed)  # to Kafka, under the group id, as a group would

        second.stop()  # a graceful stop gives everything back, for the next start to read at once
        assert await conn.fetchval("SELECT count(*) FROM eligibility.partition_lease") == 0
        assert await conn.fetchval("SELECT count(*) FROM eligibility.consumer_member") == 0
        assert "offset_commit_failed" not in (tmp_path / "second" / "eligibility.log").read_text()
    finally:
        first.kill()
        second.kill()
        await conn.close()


async def _equal(read: Callable[[], Awaitable[Any]], want: Any) -> bool:
    return await read() == want


async def test_a_broker_that_comes_back_empty_is_read_from_its_beginning(settings, tmp_path) -> None:
    """The broker restarts without its log while eligibility is frozen, and the new log grows past where eligibility
    had read before it wakes: it must not read on from its old position (as a group member would not: the broker
    has no committed offsets for it any more)."""
    port = free_port()
    own = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}", "kafka_partitions": 1})
    proc = ServiceProcess("eligibility", own, tmp_path, ELIGIBILITY_CONSUMERS="1")
    conn = await asyncpg.connect(settings.database_url)

    async def counts() -> dict[str, int]:
        return {r["authority_id"]: r["count"] for r in await conn.fetch("SELECT * FROM eligibility.authority_count")}

    try:
        with tansu(port):
            await ensure_topics(own)
            await produce(own, LINKS, [("09675141", linked_event("09675141", f"p-{i}").to_json()) for i in range(60)])
            proc.start()
            await proc.ready()
            assert await eventually(lambda: _equal(counts, {"09675141": 60}))
            assert proc.proc is not None
            proc.proc.send_signal(signal.SIGSTOP)
        with tansu(port):  # empty, on the same address
            await ensure_topics(own)
            await produce(own, LINKS, [("09663000", linked_event("09663000", f"p-{i}").to_json()) for i in range(70)])
            proc.proc.send_signal(signal.SIGCONT)
            assert await eventually(lambda: _equal(counts, {"09675141": 60, "09663000": 70}), timeout=30)
            assert "committed_offset_moved" in proc.log_path.read_text()
            proc.stop()
    finally:
        if proc.proc is not None:
            proc.proc.send_signal(signal.SIGCONT)
        proc.kill()
        await conn.close()
