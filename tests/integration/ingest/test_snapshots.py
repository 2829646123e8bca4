"""Snapshots: the full list of one authority's procedures becomes exactly the links and unlinks that differ."""

from __future__ import annotations

from harness.builders import at, change, procedure
from harness.kafka import events_of, read_topic
from tests.conftest import signed

IPHOFEN_VG = "096755616"
LINKS = "portal.procedure-links.v1"


def snapshot(minute: int, *procs: dict, authority_id: str = IPHOFEN_VG) -> dict:
    return {"authority_id": authority_id, "as_of": at(minute), "procedures": list(procs)}


async def put(client, body: dict, authority_id: str = IPHOFEN_VG):
    return await client.put(f"/v1/portal/authorities/{authority_id}/procedures", **signed(body))


async def test_snapshot_emits_exactly_the_difference(ingest, settings) -> None:
    await ingest.post(
        "/v1/portal/changes",
        **signed({"changes": [change(IPHOFEN_VG, p, minute=1) for p in ("keep", "drop", "rename")]}),
    )
    body = snapshot(5, procedure("keep"), procedure("rename", name="Neuer Name"), procedure("new"))
    response = await put(ingest, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"linked": 2, "unlinked": 1}

    events = events_of(await read_topic(settings, LINKS, at_least=6, settle=1.0))
    tail = sorted((e["event_type"], e["procedure"]["id"]) for e in events[3:])
    assert tail == [("ProcedureLinked", "new"), ("ProcedureLinked", "rename"), ("ProcedureUnlinked", "drop")]
    assert all(e["occurred_at"].startswith("2026-11-20T10:05") for e in events[3:])


async def test_an_identical_snapshot_emits_nothing(ingest, pool) -> None:
    body = snapshot(5, procedure("a"), procedure("b"))
    assert (await put(ingest, body)).json() == {"linked": 2, "unlinked": 0}
    assert (await put(ingest, body)).json() == {"linked": 0, "unlinked": 0}
    assert (await put(ingest, snapshot(6, procedure("a"), procedure("b")))).json() == {"linked": 0, "unlinked": 0}
    assert await pool.fetchval("SELECT count(*) FROM ingest.outbox") == 2


async def test_an_empty_snapshot_unlinks_everything(ingest) -> None:
    await put(ingest, snapshot(5, procedure("a"), procedure("b")))
    assert (await put(ingest, snapshot(6))).json() == {"linked": 0, "unlinked": 2}


async def test_a_snapshot_older_than_a_change_does_not_undo_it(ingest, pool) -> None:
    await ingest.post("/v1/portal/changes", **signed({"changes": [change(IPHOFEN_VG, "late", minute=10)]}))
    assert (await put(ingest, snapshot(5))).json() == {"linked": 0, "unlinked": 0}
    assert await pool.fetchval("SELECT linked FROM ingest.link_state WHERE procedure_id = 'late'") is True


async def test_invalid_snapshots_are_refused_and_store_nothing(ingest, pool) -> None:
    unknown = await put(ingest, snapshot(5, procedure("a"), authority_id="09999999"), authority_id="09999999")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "authority_id"
    bad = await put(ingest, snapshot(5, procedure("a"), {"id": "b", "name": "B"}))
    assert bad.status_code == 422
    assert {(e["index"], e["field"]) for e in bad.json()["errors"]} == {(1, "procedures.scope"), (1, "procedures.kind")}
    no_time = await put(ingest, {"authority_id": IPHOFEN_VG, "procedures": []})
    assert no_time.status_code == 422 and no_time.json()["errors"][0]["field"] == "as_of"
    unsigned = await ingest.put(f"/v1/portal/authorities/{IPHOFEN_VG}/procedures", json=snapshot(5))
    assert unsigned.status_code == 401
    assert await pool.fetchval("SELECT count(*) FROM ingest.portal_change") == 0


async def test_a_signed_snapshot_cannot_be_replayed_against_another_authority(ingest, pool) -> None:
    await ingest.post("/v1/portal/changes", **signed({"changes": [change("09675141", "kept", minute=1)]}))
    body = snapshot(5)  # Iphofen's signed (empty) snapshot, captured and sent to Kitzingen's path
    replayed = await put(ingest, body, authority_id="09675141")
    assert replayed.status_code == 422
    assert replayed.json()["errors"] == [
        {"index": None, "field": "authority_id", "message": "the body is for '096755616', the path for '09675141'"}
    ]
    missing = await put(ingest, {"as_of": at(5), "procedures": []}, authority_id="09675141")
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "authority_id"
    assert await pool.fetchval("SELECT linked FROM ingest.link_state WHERE procedure_id = 'kept'") is True
    assert await pool.fetchval("SELECT count(*) FROM ingest.outbox") == 1


async def test_a_snapshot_or_change_dated_in_the_future_is_refused(ingest, pool) -> None:
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    later = (datetime.now(UTC) + timedelta(minutes=6)).isoformat()
    ahead = await put(ingest, {**snapshot(5, procedure("a")), "as_of": later})
    assert ahead.status_code == 422 and ahead.json()["errors"][0]["field"] == "as_of"
    assert "more than 5 minutes after the server's clock" in ahead.json()["errors"][0]["message"]
    changes = [{**change(IPHOFEN_VG, "a"), "occurred_at": soon}, {**change(IPHOFEN_VG, "b"), "occurred_at": later}]
    refused = await ingest.post("/v1/portal/changes", **signed({"changes": changes}))
    assert refused.status_code == 422
    assert [(e["index"], e["field"]) for e in refused.json()["errors"]] == [(1, "occurred_at")]
    assert await pool.fetchval("SELECT count(*) FROM ingest.portal_change") == 0
    assert (await put(ingest, {**snapshot(5, procedure("a")), "as_of": soon})).status_code == 200
