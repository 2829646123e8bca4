"""A broker that comes back empty loses nothing that was in an outbox: the relays notice and publish it again."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from deploy import outbox as outbox_command
from harness import infra
from harness.builders import change
from harness.kafka import events_of, read_topic
from services.awards.app import build as build_awards
from services.eligibility.app import build as build_eligibility
from services.ingest.app import build as build_ingest
from shared.settings import Settings
from tests.conftest import eventually, signed

KITZINGEN = "09675141"
LINKS, THRESHOLDS = "portal.procedure-links.v1", "eligibility.thresholds.v1"


async def _post(client, first: int, n: int) -> None:  # noqa: ANN001
    body = {"changes": [change(KITZINGEN, f"p-{i}") for i in range(first, first + n)]}
    assert (await client.post("/v1/portal/changes", **signed(body))).status_code == 202


def _counted(client, want: int):  # noqa: ANN001, ANN202
    async def check() -> bool:
        got = (await client.get(f"/v1/authorities/{KITZINGEN}")).json()["count"]
        assert got == want, got
        return True

    return check


@contextlib.contextmanager
def broker_on(port: int, tmp_path: Path, settings: Settings, run: int) -> Iterator[Settings]:
    """A Tansu broker on a fixed address, so that a second one there looks like the first restarted empty."""
    with infra.tansu(port=port, log=tmp_path / f"tansu-{run}.log") as broker:
        yield settings.model_copy(update={"kafka_bootstrap_servers": broker.url, "relay_check_s": 0.5})


async def test_events_published_before_the_broker_lost_its_log_reach_their_consumer(start, settings, pool, tmp_path) -> None:
    port = infra.free_port()
    with broker_on(port, tmp_path, settings, 1) as own:
        _, ingest = await start("ingest", build_ingest, own)
        await _post(ingest, 0, 60)

        async def published() -> bool:
            return await pool.fetchval("SELECT count(*) FROM ingest.outbox_pending") == 0

        await eventually(published)
        assert await pool.fetchval("SELECT sum(next_offset) FROM ingest.relay_position") == 60
    # The broker is gone with its log; it comes back empty on the same address. Nobody had read the 60 events.
    with broker_on(port, tmp_path, settings, 2):
        _, eligibility = await start("eligibility", build_eligibility, own)
        await eventually(_counted(eligibility, 60), timeout=60)
        crossings = events_of(await read_topic(own, THRESHOLDS, at_least=1, settle=2.0))
        assert [(e["event_type"], e["count"]) for e in crossings] == [("ThresholdCrossed", 50)]
        links = events_of(await read_topic(own, LINKS, at_least=60, settle=1.0))
        assert len({e["event_id"] for e in links}) == 60


async def test_a_broker_restarted_empty_mid_stream_doubles_nothing(start, settings, pool, tmp_path) -> None:
    port = infra.free_port()
    with broker_on(port, tmp_path, settings, 1) as own:
        _, ingest = await start("ingest", build_ingest, own)
        _, eligibility = await start("eligibility", build_eligibility, own)
        await start("awards", build_awards, own)
        await _post(ingest, 0, 30)
        await eventually(_counted(eligibility, 30), timeout=60)
    with broker_on(port, tmp_path, settings, 2):
        await _post(ingest, 30, 30)
        await eventually(_counted(eligibility, 60), timeout=90)

        async def one_case() -> bool:
            return await pool.fetchval("SELECT count(*) FROM awards.review_case WHERE authority_id = $1", KITZINGEN) == 1

        await eventually(one_case, timeout=60)
        crossings = events_of(await read_topic(own, THRESHOLDS, at_least=1, settle=2.0))
        assert len({e["event_id"] for e in crossings if e["event_type"] == "ThresholdCrossed"}) == 1
        assert await pool.fetchval("SELECT count(*) FROM awards.review_case") == 1


async def test_the_operator_republishes_an_outbox_from_a_time(start, settings, pool) -> None:
    _, ingest = await start("ingest", build_ingest)
    _, eligibility = await start("eligibility", build_eligibility)
    since = datetime.now(UTC)
    await _post(ingest, 0, 10)
    await eventually(_counted(eligibility, 10))

    counts = await outbox_command.republish(settings, "ingest", since)

    assert counts == {LINKS: 10}
    links = events_of(await read_topic(settings, LINKS, at_least=20, settle=1.0))
    assert len(links) == 20 and len({e["event_id"] for e in links}) == 10, "each event published a second time"
    assert await outbox_command.republish(settings, "ingest", datetime.now(UTC)) == {}
    await eventually(_counted(eligibility, 10))
