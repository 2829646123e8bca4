"""The idempotent consumer over the real broker: redelivery is a no-op, poison goes to the DLQ, the partition moves on."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI

from deploy.dlq import redrive
from harness.builders import linked_event
from harness.kafka import events_of, produce, read_topic
from services.eligibility.app import build as build_eligibility
from services.eligibility.handlers import on_procedure_links
from shared.consumer import BatchConsumer
from shared.runtime import Runtime
from shared.settings import Settings
from shared.topics import PROCEDURE_LINKS
from tests.conftest import eventually

KITZINGEN = "09675141"
LINKS = "portal.procedure-links.v1"


async def _count(client, authority_id: str = KITZINGEN) -> int:
    return (await client.get(f"/v1/authorities/{authority_id}")).json()["count"]


async def test_redelivered_events_change_nothing(settings, start, pool) -> None:
    events = [linked_event(KITZINGEN, f"p-{i}") for i in range(50)]
    batch = [(KITZINGEN, e.to_json()) for e in events]
    await produce(settings, LINKS, batch)
    await produce(settings, LINKS, batch[:10])  # the first ten again, as after a lost offset commit
    _, client = await start("eligibility", build_eligibility)

    async def all_consumed() -> bool:
        return await pool.fetchval('SELECT sum("offset" + 1) FROM eligibility.consumer_offset') == 60

    await eventually(all_consumed)
    await produce(settings, LINKS, batch)  # everything again, after the crossing
    crossings = await read_topic(settings, "eligibility.thresholds.v1", at_least=1, settle=3.0)

    assert await _count(client) == 50
    assert [(e["event_type"], e["count"]) for e in events_of(crossings)] == [("ThresholdCrossed", 50)]
    assert await pool.fetchval("SELECT count(*) FROM eligibility.outbox") == 1


async def test_the_same_batch_handled_twice_writes_once(settings, start, pool) -> None:
    rt, client = await start("eligibility", build_eligibility)
    events = [linked_event(KITZINGEN, f"p-{i}") for i in range(50)]
    await produce(settings, LINKS, [(KITZINGEN, e.to_json()) for e in events])
    records = await read_topic(settings, LINKS, at_least=50)

    async def counted() -> bool:
        return await _count(client) == 50

    await eventually(counted)
    # A redelivery of the whole batch, through the service's own handler (idempotent by the links' state):
    again = BatchConsumer("eligibility", PROCEDURE_LINKS, on_procedure_links(settings), pool=rt.pool, broker=rt.broker,
                          settings=settings, dedupe_event_ids=False)
    await again.handle(records)
    assert await _count(client) == 50
    assert await pool.fetch("SELECT event_type FROM eligibility.outbox") == [("ThresholdCrossed",)]


async def test_a_redelivered_event_id_never_reaches_the_handler_again(settings, start, pool) -> None:
    rt, _ = await start("eligibility", build_eligibility)
    events = [linked_event(KITZINGEN, f"p-{i}") for i in range(20)]
    await produce(settings, LINKS, [(KITZINGEN, e.to_json()) for e in events])
    records = await read_topic(settings, LINKS, at_least=20)
    seen: list[int] = []

    async def recording(conn: asyncpg.Connection, batch: list[Any]) -> None:
        seen.append(len(batch))

    consumer = BatchConsumer("recorder", PROCEDURE_LINKS, recording, pool=rt.pool, broker=rt.broker, settings=settings)
    await consumer.handle(records)
    await consumer.handle(records)  # the same ids again: claimed in processed_event by the first pass
    await consumer.handle(records[5:10])
    assert seen == [20]
    assert await pool.fetchval("SELECT count(*) FROM eligibility.processed_event WHERE consumer = 'recorder'") == 20


async def test_poison_goes_to_the_dlq_and_the_partition_moves_on(settings, start, capsys) -> None:
    _, client = await start("eligibility", build_eligibility)
    good = linked_event(KITZINGEN, "p-after-poison")
    wrong_schema = linked_event(KITZINGEN, "p-x").model_dump(mode="json") | {"procedure": {"id": "p-x"}}
    unknown_type = linked_event(KITZINGEN, "p-y").model_dump(mode="json") | {"event_type": "ProcedureRenamed"}
    import json

    await produce(
        settings,
        LINKS,
        [
            (KITZINGEN, b"\x00not json"),
            (KITZINGEN, json.dumps(wrong_schema).encode()),
            (KITZINGEN, json.dumps(unknown_type).encode()),
            (KITZINGEN, good.to_json()),
        ],
    )

    async def counted() -> bool:
        return await _count(client) == 1

    await eventually(counted)
    dead = await read_topic(settings, LINKS + ".dlq", at_least=3)
    assert [r.value for r in dead][0] == b"\x00not json"
    headers = [dict((k, v.decode()) for k, v in r.headers) for r in dead]
    assert {h["dlq_consumer"] for h in headers} == {"eligibility"}
    assert {h["dlq_source_topic"] for h in headers} == {settings.topic(LINKS)}
    assert all(h["dlq_error"] for h in headers)
    assert "ProcedureLinked.procedure.name Field required" in headers[1]["dlq_error"]
    assert "ProcedureRenamed" in headers[2]["dlq_error"]

    from deploy.dlq import show

    await show(settings, [settings.topic(LINKS + ".dlq")], limit=10)
    shown = capsys.readouterr().out
    assert "dlq_error_type: ValidationError" in shown and "dlq: 3 dead letter(s) shown" in shown


def assert_dead_letter(letter: Any, original: Any, settings: Settings, error_type: str, error: str) -> None:
    """The letter is the original record, with why it could not be applied and how often it was tried."""
    headers = {k: v.decode() for k, v in letter.headers}
    assert headers["dlq_attempts"] == str(settings.consumer_retries + 1)
    assert error in headers["dlq_error"]
    assert headers["dlq_error_type"] == error_type
    assert letter.value == original.to_json() and letter.key == KITZINGEN.encode()


async def test_a_handler_bug_dead_letters_after_retries_and_the_letter_is_redriven_once_fixed(settings, start, pool) -> None:
    poison = linked_event(KITZINGEN, "p-always-fails")
    after = [linked_event(KITZINGEN, f"p-{i}") for i in range(3)]
    attempts: list[str] = []
    broken = True

    async def apply(conn: asyncpg.Connection, events: list[Any]) -> None:
        for e in events:
            attempts.append(e.procedure.id)
            if broken and e.event_id == poison.event_id:
                raise ValueError("this event can never be applied")
        await conn.executemany(
            "INSERT INTO test_applied (procedure_id) VALUES ($1)", [(e.procedure.id,) for e in events]
        )

    def build(rt: Runtime) -> FastAPI:
        consumer = BatchConsumer("eligibility", PROCEDURE_LINKS, apply, pool=rt.pool, broker=rt.broker, settings=rt.settings)
        rt.background.update(consumer.subscribe("test consumer", rt.connect))
        return FastAPI()

    await pool.execute("CREATE TABLE eligibility.test_applied (procedure_id text PRIMARY KEY)")
    await produce(settings, LINKS, [(KITZINGEN, e.to_json()) for e in [after[0], poison, *after[1:]]])
    await start("eligibility", build)

    async def applied(n: int):  # noqa: ANN202
        async def check() -> list[str]:
            rows = await pool.fetch("SELECT procedure_id FROM eligibility.test_applied ORDER BY 1")
            return [r["procedure_id"] for r in rows] if len(rows) == n else []

        return await eventually(check)

    assert await applied(3) == ["p-0", "p-1", "p-2"]
    dead = await read_topic(settings, LINKS + ".dlq", at_least=1, settle=1.0)
    assert len(dead) == 1
    assert_dead_letter(dead[0], poison, settings, "ValueError", "never be applied")
    assert attempts.count("p-always-fails") == 1 + settings.consumer_retries + 1, "in its batch, then alone"
    assert await pool.fetchval(
        "SELECT count(*) FROM eligibility.processed_event WHERE event_id = $1", poison.event_id
    ) == 0

    broken = False  # the bug is fixed; the operator re-drives the dead letters
    assert await redrive(settings, settings.topic(LINKS + ".dlq"), since=None) == 1
    assert await applied(4) == ["p-0", "p-1", "p-2", "p-always-fails"]
    assert await redrive(settings, settings.topic(LINKS + ".dlq"), since=None) == 1  # twice by mistake: harmless

    async def second_redrive_consumed() -> bool:
        return await pool.fetchval(
            "SELECT max(\"offset\") FROM eligibility.consumer_offset WHERE partition = $1", dead[0].partition
        ) == 5  # 4 records, then the two re-driven copies

    await eventually(second_redrive_consumed)
    assert await pool.fetchval("SELECT count(*) FROM eligibility.test_applied") == 4
    assert attempts.count("p-always-fails") == 1 + settings.consumer_retries + 1 + 1, "and once re-driven"
