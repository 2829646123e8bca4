"""Relay leadership: when the leading instance freezes (its connection stays open, as when its network is gone or
it is paused), another takes over after the lease (RELAY_LEASE_S), and the frozen one steps down when it wakes."""

from __future__ import annotations

import signal

import httpx

from harness.builders import change
from harness.kafka import events_of, read_topic
from harness.processes import ServiceProcess
from shared import db
from tests.conftest import eventually, signed

LINKS = "portal.procedure-links.v1"


async def test_a_frozen_leader_is_replaced_after_its_lease(settings, tmp_path) -> None:
    first = ServiceProcess("ingest", settings, tmp_path, RELAY_LEASE_S="2")
    second = ServiceProcess("ingest", settings, tmp_path / "second", RELAY_LEASE_S="2")
    (tmp_path / "second").mkdir()
    conn = await db.connect(settings.database_url, "ingest")
    try:
        first.start()
        await first.ready()

        async def first_leads() -> bool:
            return await conn.fetchval("SELECT count(*) FROM relay_lease") == 1

        await eventually(first_leads)
        leader = await conn.fetchval("SELECT holder FROM relay_lease")
        second.start()
        await second.ready()
        assert first.proc is not None
        first.proc.send_signal(signal.SIGSTOP)  # frozen: its connections stay open, it renews nothing
        async with httpx.AsyncClient(base_url=second.url) as http:
            body = {"changes": [change("09675141", f"p-{i}") for i in range(20)]}
            assert (await http.post("/v1/portal/changes", **signed(body))).status_code == 202

        async def taken_over() -> bool:
            return await conn.fetchval("SELECT holder FROM relay_lease") not in (None, leader)

        await eventually(taken_over, timeout=20)
        records = await read_topic(settings, LINKS, at_least=20, timeout=20)
        assert sorted(e["procedure"]["id"] for e in events_of(records)) == sorted(f"p-{i}" for i in range(20))
        first.proc.send_signal(signal.SIGCONT)

        async def stepped_down() -> bool:
            return "outbox_relay_lease_lost" in first.log_path.read_text()

        await eventually(stepped_down, timeout=30)
        assert await conn.fetchval("SELECT count(*) FROM outbox_pending") == 0
    finally:
        if first.proc is not None:
            first.proc.send_signal(signal.SIGCONT)
        first.stop()
        second.stop()
        await conn.close()
