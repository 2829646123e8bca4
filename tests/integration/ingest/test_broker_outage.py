"""While the broker is away, ingest keeps accepting feeds; the outbox holds the events and publishes on return."""

from __future__ import annotations

import asyncio
import signal

from harness import infra
from harness.builders import change
from harness.kafka import events_of, read_topic
from services.ingest.app import build as build_ingest
from tests.conftest import eventually, signed


async def test_feeds_are_accepted_while_the_broker_is_paused(start, settings, pool, tmp_path) -> None:
    with infra.tansu(log=tmp_path / "tansu.log") as broker:
        own = settings.model_copy(update={"kafka_bootstrap_servers": broker.url})
        _, ingest = await start("ingest", build_ingest, own)
        first = {"changes": [change("09675141", f"before-{i}") for i in range(10)]}
        assert (await ingest.post("/v1/portal/changes", **signed(first))).status_code == 202
        await read_topic(own, "portal.procedure-links.v1", at_least=10)

        broker.proc.send_signal(signal.SIGSTOP)
        try:
            for n in range(3):
                body = {"changes": [change("09675141", f"during-{n}-{i}") for i in range(10)]}
                response = await asyncio.wait_for(ingest.post("/v1/portal/changes", **signed(body)), 10)
                assert response.status_code == 202
            assert await pool.fetchval("SELECT count(*) FROM ingest.outbox_pending") == 30
            await asyncio.sleep(2)
        finally:
            broker.proc.send_signal(signal.SIGCONT)

        async def published() -> bool:
            return await pool.fetchval("SELECT count(*) FROM ingest.outbox_pending") == 0

        await eventually(published, timeout=60)
        events = events_of(await read_topic(own, "portal.procedure-links.v1", at_least=40, settle=1.0))
        ids = {e["procedure"]["id"] for e in events}
        assert len(ids) == 40, "every accepted change reached the topic"
        assert len({e["event_id"] for e in events}) == 40

