"""Eligibility's fast reader (msgspec) over the real broker: what it cannot vouch for, the contract's models read."""

from __future__ import annotations

import json

from harness.builders import linked_event
from harness.kafka import produce, read_topic
from services.eligibility.app import build as build_eligibility
from tests.conftest import eventually

KITZINGEN = "09675141"
LINKS = "portal.procedure-links.v1"


async def test_events_left_to_the_contract_are_counted_and_its_refusals_dead_lettered(settings, start) -> None:
    _, client = await start("eligibility", build_eligibility)
    plain = linked_event(KITZINGEN, "p-plain").to_json()
    finer_time = json.dumps(linked_event(KITZINGEN, "p-finer").model_dump(mode="json")
                            | {"occurred_at": "2026-11-20T10:00:00.1234567Z"}).encode()  # valid, not for msgspec
    escaped = json.dumps(linked_event(KITZINGEN, "p-escaped", name="Müllabfuhr").model_dump(mode="json"),
                         ensure_ascii=True).encode()  # \u00fc: valid, not for msgspec
    with_nul = linked_event(KITZINGEN, "p-nul").model_dump(mode="json")
    with_nul["procedure"]["name"] = "Hunde\x00steuer"  # the contract refuses it
    nul = json.dumps(with_nul).encode()
    await produce(settings, LINKS, [(KITZINGEN, v) for v in (plain, finer_time, escaped, nul)])

    async def three_counted() -> bool:
        return (await client.get(f"/v1/authorities/{KITZINGEN}")).json()["count"] == 3

    await eventually(three_counted)
    dead = await read_topic(settings, LINKS + ".dlq", at_least=1, settle=1.0)
    assert [r.value for r in dead] == [nul]
    assert "procedure.name" in dict((k, v.decode()) for k, v in dead[0].headers)["dlq_error"]
