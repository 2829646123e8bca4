"""`rebuild`: recount from the stored links and announce only what differs from the last announcement."""

from __future__ import annotations

from harness.builders import linked_event
from harness.kafka import events_of, produce, read_topic
from harness.processes import run_module
from services.eligibility.app import build as build_eligibility
from services.eligibility.handlers import rebuild
from tests.conftest import eventually

KITZINGEN, BEZIRK = "09675141", "096"


async def test_rebuild_applies_a_changed_threshold_once(start, settings, pool) -> None:
    events = [linked_event(KITZINGEN, f"k-{i}") for i in range(55)] + [linked_event(BEZIRK, f"b-{i}") for i in range(30)]
    await produce(settings, "portal.procedure-links.v1", [(e.authority_id, e.to_json()) for e in events])
    rt, client = await start("eligibility", build_eligibility)

    async def counted() -> bool:
        return (await client.get(f"/v1/authorities/{KITZINGEN}")).json()["count"] == 55

    await eventually(counted)
    assert await rebuild(rt.pool, settings) == []

    raised = settings.model_copy(update={"threshold_default": 60})
    crossings = await rebuild(rt.pool, raised)
    assert [(c.authority_id, c.direction, c.count, c.threshold) for c in crossings] == [(KITZINGEN, "lost", 55, 60)]
    assert await rebuild(rt.pool, raised) == []

    await pool.execute("UPDATE eligibility.authority_count SET count = 7 WHERE authority_id = $1", BEZIRK)
    assert await rebuild(rt.pool, raised) == []
    assert await pool.fetchval("SELECT count FROM eligibility.authority_count WHERE authority_id = $1", BEZIRK) == 30

    back = await rebuild(rt.pool, settings)
    assert [(c.authority_id, c.direction, c.count) for c in back] == [(KITZINGEN, "crossed", 55)]
    published = events_of(await read_topic(settings, "eligibility.thresholds.v1", at_least=4, settle=1.0))
    assert sorted((e["authority_id"], e["event_type"], e["threshold"]) for e in published) == [
        (BEZIRK, "ThresholdCrossed", 30),
        (KITZINGEN, "ThresholdCrossed", 50),
        (KITZINGEN, "ThresholdCrossed", 50),
        (KITZINGEN, "ThresholdLost", 60),
    ]


async def test_the_rebuild_command_writes_to_the_outbox(settings, pool) -> None:
    async def run(**env: str) -> tuple[int, str]:
        code, out, err = await run_module(settings, "services.eligibility", "rebuild", timeout=60, **env)
        return code, out + err

    await pool.execute(
        "INSERT INTO eligibility.authority_count VALUES ($1, 0, 50, true)", KITZINGEN
    )
    code, out = await run()
    assert code == 0, out
    assert "rebuild: 1 threshold event(s) written to the outbox" in out
    assert await pool.fetchval("SELECT event_type FROM eligibility.outbox") == "ThresholdLost"
    code, out = await run()
    assert "rebuild: 0 threshold event(s)" in out
