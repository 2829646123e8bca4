"""The first thin path over the real broker and database: signed change -> link event -> count."""

from __future__ import annotations

from harness.builders import change
from harness.kafka import events_of, read_topic
from services.eligibility.app import build as build_eligibility
from services.ingest.app import build as build_ingest
from tests.conftest import eventually, signed

KITZINGEN = "09675141"


async def test_signed_change_reaches_the_count(start, settings) -> None:
    _, ingest = await start("ingest", build_ingest)
    _, eligibility = await start("eligibility", build_eligibility)

    body = {"changes": [change(KITZINGEN, "bp-op-4711", name="Hundesteuer - Anmeldung eines Hundes")]}
    response = await ingest.post("/v1/portal/changes", **signed(body))
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1, "duplicates": 0}

    events = events_of(await read_topic(settings, "portal.procedure-links.v1"))
    assert [(e["event_type"], e["authority_id"], e["procedure"]["id"]) for e in events] == [
        ("ProcedureLinked", KITZINGEN, "bp-op-4711")
    ]
    assert events[0]["change_id"] == body["changes"][0]["change_id"]
    assert events[0]["occurred_at"].startswith("2026-11-20T10:00:00")

    async def counted() -> dict:
        r = await eligibility.get(f"/v1/authorities/{KITZINGEN}")
        assert r.status_code == 200
        assert r.json()["count"] == 1
        return r.json()

    view = await eventually(counted)
    assert view["name"] == "Kitzingen"
    assert view["threshold"] == 50
    assert view["eligible"] is False
    assert [p["id"] for p in view["procedures"]] == ["bp-op-4711"]
    assert view["procedures"][0]["name"] == "Hundesteuer - Anmeldung eines Hundes"
