"""`python -m services.ingest pvog-sync` as a real process, and PVOG polling in the running service."""

from __future__ import annotations

import httpx

from harness.kafka import events_of, read_topic
from harness.processes import run_module, running
from tests.conftest import eventually
from tests.support.feed_server import FeedServer, pvog_pages

PAGES = pvog_pages()


async def run(settings, *args: str, **env: str) -> tuple[int, str, str]:
    return await run_module(settings, "services.ingest", *args, **env)


async def test_pvog_sync_runs_to_the_end_publishes_and_exits(settings, pool) -> None:
    async with FeedServer(PAGES).running() as feed:
        code, out, err = await run(settings, "pvog-sync", "--url", feed.first_url)
        assert code == 0, err[-2000:]
        assert out.strip().splitlines()[-1] == 'pvog-sync: {"pages": 3, "linked": 4, "unlinked": 1}'
        code, out, _ = await run(settings, "pvog-sync", PVOG_URL=feed.first_url)
        assert code == 0 and '"pages": 1, "linked": 0' in out
    records = await read_topic(settings, "portal.procedure-links.v1", at_least=5, settle=0.5)
    assert len(records) == 5
    assert await pool.fetchval("SELECT count(*) FROM ingest.outbox_pending") == 0


async def test_pvog_sync_on_an_unreadable_feed_exits_non_zero_with_one_line(settings) -> None:
    async with FeedServer([b"<xzufi"]).running() as feed:
        code, _, err = await run(settings, "pvog-sync", "--url", feed.first_url)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("ingest: pvog-sync failed: cannot read page http://127.0.0.1:")


async def test_the_service_polls_when_pvog_url_is_set(settings, tmp_path) -> None:
    async with FeedServer(PAGES).running() as feed:
        extra = {"PVOG_URL": feed.first_url, "PVOG_POLL_SECONDS": "0.5"}
        async with running(["ingest"], settings, tmp_path, **extra) as procs:
            async def polled_twice() -> bool:
                return feed.served[3] >= 2

            await eventually(polled_twice, timeout=30)
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"{procs['ingest'].url}/metrics")).text
            assert "pvog_pages_total" in metrics
        assert feed.served[0] == feed.served[1] == feed.served[2] == 1
    assert len(events_of(await read_topic(settings, "portal.procedure-links.v1", at_least=5, settle=0.5))) == 5
