"""The signed push feed over the real database and broker: refusals store nothing, duplicates and order."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest

from harness.builders import change, procedure
from harness.kafka import events_of, read_topic
from services.ingest import feeds
from services.ingest.app import build as build_ingest
from services.ingest.domain import Change
from tests.conftest import eventually, sign, signed

KITZINGEN = "09675141"
LINKS = "portal.procedure-links.v1"


async def stored(pool) -> tuple[int, int, int]:
    return (
        await pool.fetchval("SELECT count(*) FROM ingest.portal_change"),
        await pool.fetchval("SELECT count(*) FROM ingest.link_state"),
        await pool.fetchval("SELECT count(*) FROM ingest.outbox"),
    )


def raw(body: bytes, signature: str | None, content_type: str = "application/json") -> dict:
    headers = {"content-type": content_type}
    if signature is not None:
        headers["X-Portal-Signature"] = signature
    return {"content": body, "headers": headers}


GOOD = {"changes": [change(KITZINGEN, "p-1")]}


@pytest.mark.parametrize(
    ("case", "kwargs_of", "status"),
    [
        ("no signature", lambda b: raw(b, None), 401),
        ("wrong secret", lambda b: raw(b, sign(b, "not-the-secret")), 401),
        ("bare hex", lambda b: raw(b, sign(b).removeprefix("sha256=")), 401),
        ("signature of another body", lambda b: raw(b, sign(b + b" ")), 401),
        ("wrong content type", lambda b: raw(b, sign(b), "text/plain"), 415),
        ("malformed json", lambda b: raw(b"{not json", sign(b"{not json")), 422),
        ("changes not a list", lambda b: raw(b'{"changes": 5}', sign(b'{"changes": 5}')), 422),
        ("body over 5 MiB", lambda b: raw(b" " * (5 * 1024 * 1024 + 1), sign(b" " * (5 * 1024 * 1024 + 1))), 413),
    ],
)
async def test_refused_requests_store_nothing(ingest, pool, settings, case, kwargs_of, status) -> None:
    body = json.dumps(GOOD).encode()
    response = await ingest.post("/v1/portal/changes", **kwargs_of(body))
    assert response.status_code == status, (case, response.text)
    assert await stored(pool) == (0, 0, 0)


async def test_over_5000_changes_is_413(ingest, pool) -> None:
    body = {"changes": [change(KITZINGEN, f"p-{i}") for i in range(5001)]}
    response = await ingest.post("/v1/portal/changes", **signed(body))
    assert response.status_code == 413
    assert await stored(pool) == (0, 0, 0)


async def test_feeds_are_refused_while_no_secret_is_configured(start, settings, pool) -> None:
    _, client = await start("ingest", build_ingest, settings.model_copy(update={"feed_secret": None}))
    response = await client.post("/v1/portal/changes", **signed(GOOD))
    assert response.status_code == 503
    assert "FEED_SECRET" in response.json()["detail"]
    assert await stored(pool) == (0, 0, 0)


async def test_one_invalid_change_refuses_the_whole_batch_naming_each_error(ingest, pool) -> None:
    bad_kind = change(KITZINGEN, "p-3", kind="pdf")
    no_procedure = {k: v for k, v in change(KITZINGEN, "p-4").items() if k != "procedure"}
    body = {
        "changes": [
            change(KITZINGEN, "p-1"),
            change("00000000", "p-2"),
            bad_kind,
            no_procedure,
            {**change(KITZINGEN, "p-5"), "action": "deleted"},
            {**change(KITZINGEN, "p-6"), "occurred_at": "20.11.2026"},
        ]
    }
    response = await ingest.post("/v1/portal/changes", **signed(body))
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [
        (1, "authority_id"),
        (2, "procedure.kind"),
        (3, "procedure"),
        (4, "action"),
        (5, "occurred_at"),
    ]
    assert all(e["message"] for e in errors)
    assert await stored(pool) == (0, 0, 0)


async def test_duplicates_are_counted_and_not_republished(ingest, pool, settings) -> None:
    first = [change(KITZINGEN, f"p-{i}") for i in range(3)]
    assert (await ingest.post("/v1/portal/changes", **signed({"changes": first}))).json() == {
        "accepted": 3, "duplicates": 0
    }
    again = first[:2] + [change(KITZINGEN, "p-9")] + [first[2]]
    response = await ingest.post("/v1/portal/changes", **signed({"changes": again}))
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 3}

    records = await read_topic(settings, LINKS, at_least=4, settle=1.0)
    assert sorted(e["procedure"]["id"] for e in events_of(records)) == ["p-0", "p-1", "p-2", "p-9"]


async def test_a_second_link_of_a_linked_procedure_emits_nothing(ingest, pool, settings) -> None:
    await ingest.post("/v1/portal/changes", **signed({"changes": [change(KITZINGEN, "p", minute=1)]}))
    response = await ingest.post("/v1/portal/changes", **signed({"changes": [change(KITZINGEN, "p", minute=2)]}))
    assert response.json() == {"accepted": 1, "duplicates": 0}
    assert await pool.fetchval("SELECT count(*) FROM ingest.outbox") == 1
    assert await pool.fetchval("SELECT count(*) FROM ingest.portal_change") == 2


async def test_the_latest_change_wins_whatever_order_changes_arrive_in(ingest, pool, settings) -> None:
    unlink_late = change(KITZINGEN, "p", action="unlinked", minute=10)
    link_early = change(KITZINGEN, "p", minute=5)
    other_late = change(KITZINGEN, "q", minute=10)
    other_early_unlink = change(KITZINGEN, "q", action="unlinked", minute=5)

    await ingest.post("/v1/portal/changes", **signed({"changes": [unlink_late, other_late]}))
    await ingest.post("/v1/portal/changes", **signed({"changes": [link_early, other_early_unlink]}))

    state = {r["procedure_id"]: r["linked"] for r in await pool.fetch("SELECT * FROM ingest.link_state")}
    assert state == {"p": False, "q": True}
    records = await read_topic(settings, LINKS, at_least=1, settle=1.0)
    assert [(e["event_type"], e["procedure"]["id"]) for e in events_of(records)] == [("ProcedureLinked", "q")]
    assert await pool.fetchval("SELECT count(*) FROM ingest.portal_change") == 4, "stale changes kept for audit"


async def test_changes_within_one_batch_are_ordered_by_time(ingest, pool, settings) -> None:
    body = {
        "changes": [
            change(KITZINGEN, "p", minute=3),
            change(KITZINGEN, "p", action="unlinked", minute=2),
            change(KITZINGEN, "p", minute=1),
        ]
    }
    assert (await ingest.post("/v1/portal/changes", **signed(body))).json() == {"accepted": 3, "duplicates": 0}
    records = await read_topic(settings, LINKS, at_least=1, settle=1.0)
    assert [e["event_type"] for e in events_of(records)] == ["ProcedureLinked"]


async def test_unlink_emits_when_the_procedure_was_linked(ingest, settings) -> None:
    await ingest.post("/v1/portal/changes", **signed({"changes": [change(KITZINGEN, "p", minute=1)]}))
    await ingest.post(
        "/v1/portal/changes", **signed({"changes": [change(KITZINGEN, "p", action="unlinked", minute=2)]})
    )
    records = await read_topic(settings, LINKS, at_least=2, settle=0.5)
    events = events_of(records)
    assert [e["event_type"] for e in events] == ["ProcedureLinked", "ProcedureUnlinked"]
    assert events[1]["procedure"] == {"id": "p"}
    assert events[1]["occurred_at"].startswith("2026-11-20T10:02")


async def test_a_batch_waits_for_one_applying_to_the_same_authority(ingest, pool, database_url) -> None:
    """Batch A links p-1 and has not committed; batch B links p-1 again. B must read the link as A leaves it, so it
    emits nothing. Without the per-authority lock B would read the state before A, wait only at the row, and emit a
    second `ProcedureLinked`, which eligibility would count."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "ingest"})
    try:
        tx = conn.transaction()
        await tx.start()
        first = Change("a-1", datetime(2026, 3, 1, tzinfo=UTC), "linked", KITZINGEN, procedure("p-1"))
        await feeds.apply_in_tx(conn, "push", [first], correlation_id="a")
        later = {"changes": [change(KITZINGEN, "p-1", minute=5)]}
        second = asyncio.create_task(ingest.post("/v1/portal/changes", **signed(later)))
        await eventually(lambda: _waiting(pool))  # B is at the lock A holds
        await tx.commit()
        assert (await second).status_code == 202
    finally:
        await conn.close()
    events = await pool.fetch("SELECT event_type FROM ingest.outbox ORDER BY id")
    assert [e["event_type"] for e in events] == ["ProcedureLinked"]
    assert await pool.fetchval("SELECT change_id FROM ingest.link_state") != "a-1", "B's newer change is the state"


async def _waiting(pool) -> bool:
    """A session of this test's database waits for a lock."""
    return await pool.fetchval(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
        " WHERE NOT l.granted AND a.datname = current_database()"
    ) > 0


async def test_changes_are_stored_as_they_came_to_the_microsecond(pool, database_url) -> None:
    """What PostgreSQL stores is what came: times keep their microseconds and offsets, texts their quotes,
    backslashes and umlauts, and a change one microsecond older than the stored one loses."""
    cest = timezone(timedelta(hours=2))
    at = datetime(2026, 3, 1, 12, 0, 0, 123457, tzinfo=cest)
    name = 'Anmeldung "Hund" \\ Gebühr – Straße\tNr.'
    newer = Change("c-2", at, "linked", KITZINGEN, procedure("p-1", name=name))
    older = Change("c-1", at - timedelta(microseconds=1), "unlinked", KITZINGEN, {"id": "p-1"})
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "ingest"})
    try:
        for batch in ([newer], [older]):
            async with conn.transaction():
                await feeds.apply_in_tx(conn, "push", batch, correlation_id="t")
    finally:
        await conn.close()
    stored = {r["change_id"]: r for r in await pool.fetch("SELECT * FROM ingest.portal_change")}
    assert stored["c-2"]["occurred_at"] == at and stored["c-1"]["occurred_at"] == at - timedelta(microseconds=1)
    assert json.loads(stored["c-2"]["procedure"]) == procedure("p-1", name=name)
    state = await pool.fetchrow("SELECT * FROM ingest.link_state")
    assert (state["change_id"], state["linked"], state["occurred_at"]) == ("c-2", True, at)
    assert json.loads(state["procedure"])["name"] == name
