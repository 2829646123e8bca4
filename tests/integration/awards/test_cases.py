"""Review cases over the real database and broker: every transition and refusal."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from harness.kafka import events_of, read_topic
from services.awards.domain import berlin_day
from tests.conftest import eventually
from tests.support.awards import add_reviewer, cases_of, crossed, history_of, lost, send

THRESHOLDS, CASES = "eligibility.thresholds.v1", "awards.cases.v1"
KITZINGEN, WUERZBURG = "09675141", "09663000"
YEAR = berlin_day(datetime.now(UTC)).year


async def test_a_crossing_opens_one_award_case_however_often_it_arrives(awards, alice, settings) -> None:
    event = crossed(KITZINGEN, count=51)
    await send(settings, event, event)
    [case] = await cases_of(awards, alice, KITZINGEN)
    assert (case["kind"], case["status"], case["count"], case["authority_name"]) == ("award", "open", 51, "Kitzingen")
    assert case["district"] == "Kitzingen" and case["current_count"] == 51 and case["eligible"] is True

    await send(settings, crossed(KITZINGEN, count=52))  # a second crossing while the case is undecided
    opened = events_of(await read_topic(settings, CASES, at_least=1, settle=2.0))
    assert [(e["event_type"], e["kind"], e["count"], e["case_id"]) for e in opened] == [
        ("CaseOpened", "award", 51, case["case_id"])
    ]
    assert (await awards.get("/v1/cases", headers=alice)).json()["total"] == 1


async def test_claim_then_approve_grants_a_numbered_award(awards, alice, bob, settings) -> None:
    await send(settings, crossed(KITZINGEN), crossed(WUERZBURG))
    [k] = await cases_of(awards, alice, KITZINGEN)
    [w] = await cases_of(awards, alice, WUERZBURG)

    claimed = await awards.post(f"/v1/cases/{k['case_id']}/claim", headers=alice)
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "alice"
    assert (await awards.post(f"/v1/cases/{k['case_id']}/claim", headers=alice)).status_code == 200
    taken = await awards.post(f"/v1/cases/{k['case_id']}/claim", headers=bob)
    assert taken.status_code == 409 and "alice" in taken.json()["detail"]

    not_mine = await awards.post(f"/v1/cases/{k['case_id']}/decision", json={"decision": "approve"}, headers=bob)
    assert not_mine.status_code == 409
    approved = await awards.post(f"/v1/cases/{k['case_id']}/decision", json={"decision": "approve"}, headers=alice)
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decision"]) == ("decided", "approve")
    again = await awards.post(f"/v1/cases/{k['case_id']}/decision", json={"decision": "reject", "reason": "x"}, headers=alice)
    assert again.status_code == 409
    assert (await awards.post(f"/v1/cases/{k['case_id']}/claim", headers=bob)).status_code == 409

    await awards.post(f"/v1/cases/{w['case_id']}/claim", headers=bob)
    await awards.post(f"/v1/cases/{w['case_id']}/decision", json={"decision": "approve"}, headers=bob)

    granted = events_of(await read_topic(settings, CASES, at_least=4))
    awarded = sorted((e["authority_id"], e["award_number"], e["reviewer"]) for e in granted if e["event_type"] == "AwardGranted")
    assert awarded == [(WUERZBURG, f"DA-{YEAR}-00002", "bob"), (KITZINGEN, f"DA-{YEAR}-00001", "alice")]
    grant = next(e for e in granted if e["event_type"] == "AwardGranted" and e["authority_id"] == KITZINGEN)
    assert grant["awarded_at"] == berlin_day(datetime.now(UTC)).isoformat() and grant["case_id"] == k["case_id"]
    assert await history_of(awards, alice, k["case_id"]) == ["opened", "claimed", "approve"]


async def test_reject_needs_a_reason_and_emits_it(awards, alice, settings) -> None:
    await send(settings, crossed(KITZINGEN))
    [case] = await cases_of(awards, alice, KITZINGEN)
    await awards.post(f"/v1/cases/{case['case_id']}/claim", headers=alice)
    for reason in (None, "", "   "):
        r = await awards.post(f"/v1/cases/{case['case_id']}/decision", json={"decision": "reject", "reason": reason}, headers=alice)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    wrong = await awards.post(f"/v1/cases/{case['case_id']}/decision", json={"decision": "revoke", "reason": "x"}, headers=alice)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "decision"
    bad = await awards.post(f"/v1/cases/{case['case_id']}/decision", json={"decision": "maybe"}, headers=alice)
    assert bad.status_code == 422
    ok = await awards.post(
        f"/v1/cases/{case['case_id']}/decision", json={"decision": "reject", "reason": "Verfahren veraltet"}, headers=alice
    )
    assert ok.status_code == 200 and ok.json()["reason"] == "Verfahren veraltet"
    events = events_of(await read_topic(settings, CASES, at_least=2))
    assert [(e["event_type"], e.get("reason"), e.get("reviewer")) for e in events][1] == (
        "AwardRejected", "Verfahren veraltet", "alice"
    )
    history = (await awards.get(f"/v1/cases/{case['case_id']}", headers=alice)).json()["history"]
    assert history[-1]["reason"] == "Verfahren veraltet" and history[-1]["actor"] == "alice"


async def test_an_award_case_below_the_threshold_cannot_be_approved_until_it_is_back(awards, alice, settings) -> None:
    await send(settings, crossed(KITZINGEN))
    [case] = await cases_of(awards, alice, KITZINGEN)
    await awards.post(f"/v1/cases/{case['case_id']}/claim", headers=alice)
    await send(settings, lost(KITZINGEN, count=49))

    async def marked() -> bool:
        return "count_below_threshold" in await history_of(awards, alice, case["case_id"])

    await eventually(marked)
    refused = await awards.post(f"/v1/cases/{case['case_id']}/decision", json={"decision": "approve"}, headers=alice)
    assert refused.status_code == 409 and "unter ihrer Schwelle" in refused.json()["detail"]
    await send(settings, crossed(KITZINGEN, count=50))

    async def back() -> bool:
        return "count_back_at_threshold" in await history_of(awards, alice, case["case_id"])

    await eventually(back)
    assert (await awards.post(f"/v1/cases/{case['case_id']}/decision", json={"decision": "approve"}, headers=alice)).status_code == 200
    assert (await awards.get("/v1/cases", headers=alice)).json()["total"] == 1


async def test_a_holder_still_below_at_its_deadline_gets_a_revocation_case(awards, alice, settings) -> None:
    await send(settings, crossed(KITZINGEN))
    [award_case] = await cases_of(awards, alice, KITZINGEN)
    await awards.post(f"/v1/cases/{award_case['case_id']}/claim", headers=alice)
    await awards.post(f"/v1/cases/{award_case['case_id']}/decision", json={"decision": "approve"}, headers=alice)
    await send(settings, crossed(KITZINGEN, count=60))  # a holder gets no second award case
    await send(settings, lost(KITZINGEN, count=48))
    cases = await cases_of(awards, alice, KITZINGEN, n=2)  # after the grace period (1.5 s here)
    revocation = next(c for c in cases if c["kind"] == "revocation")
    assert revocation["award_number"] == f"DA-{YEAR}-00001" and revocation["count"] == 48

    await awards.post(f"/v1/cases/{revocation['case_id']}/claim", headers=alice)
    no_reason = await awards.post(f"/v1/cases/{revocation['case_id']}/decision", json={"decision": "revoke"}, headers=alice)
    assert no_reason.status_code == 422
    approve = await awards.post(f"/v1/cases/{revocation['case_id']}/decision", json={"decision": "approve"}, headers=alice)
    assert approve.status_code == 422
    revoked = await awards.post(
        f"/v1/cases/{revocation['case_id']}/decision", json={"decision": "revoke", "reason": "nur noch 48"}, headers=alice
    )
    assert revoked.status_code == 200
    events = events_of(await read_topic(settings, CASES, at_least=5))
    assert [e["event_type"] for e in events] == [
        "CaseOpened", "AwardGranted", "GracePeriodStarted", "CaseOpened", "AwardRevoked"
    ]
    assert (events[4]["award_number"], events[4]["reason"]) == (f"DA-{YEAR}-00001", "nur noch 48")

    await send(settings, crossed(KITZINGEN, count=50))  # no longer a holder: a new award case
    cases = await cases_of(awards, alice, KITZINGEN, n=3)
    assert sorted(c["kind"] for c in cases) == ["award", "award", "revocation"]


async def test_keep_leaves_the_award_and_a_later_loss_opens_a_new_case(awards, alice, settings) -> None:
    await send(settings, crossed(KITZINGEN))
    [c] = await cases_of(awards, alice, KITZINGEN)
    await awards.post(f"/v1/cases/{c['case_id']}/claim", headers=alice)
    await awards.post(f"/v1/cases/{c['case_id']}/decision", json={"decision": "approve"}, headers=alice)
    await send(settings, lost(KITZINGEN))
    [r] = [x for x in await cases_of(awards, alice, KITZINGEN, n=2) if x["kind"] == "revocation"]
    await awards.post(f"/v1/cases/{r['case_id']}/claim", headers=alice)
    kept = await awards.post(f"/v1/cases/{r['case_id']}/decision", json={"decision": "keep"}, headers=alice)
    assert kept.status_code == 200
    await send(settings, crossed(KITZINGEN), lost(KITZINGEN, count=47))
    cases = await cases_of(awards, alice, KITZINGEN, n=3)
    assert sorted(c["kind"] for c in cases) == ["award", "revocation", "revocation"]
    events = events_of(await read_topic(settings, CASES, at_least=7))
    assert [e["event_type"] for e in events] == [
        "CaseOpened", "AwardGranted", "GracePeriodStarted", "CaseOpened", "AwardKept", "GracePeriodStarted", "CaseOpened"
    ]


async def test_concurrent_claims_and_decisions_have_exactly_one_winner(awards, settings) -> None:
    reviewers = [await add_reviewer(awards.rt.pool, f"r{i}") for i in range(20)]
    await send(settings, crossed(KITZINGEN))
    [case] = await cases_of(awards, reviewers[0], KITZINGEN)
    url = f"/v1/cases/{case['case_id']}"
    claims = await asyncio.gather(*(awards.post(f"{url}/claim", headers=h) for h in reviewers))
    assert sorted(r.status_code for r in claims) == [200] + [409] * 19
    winner = reviewers[[r.status_code for r in claims].index(200)]
    decisions = await asyncio.gather(
        *(awards.post(f"{url}/decision", json={"decision": "approve"}, headers=winner) for _ in range(10))
    )
    assert sorted(r.status_code for r in decisions) == [200] + [409] * 9
    events = events_of(await read_topic(settings, CASES, at_least=2, settle=1.0))
    assert [e["event_type"] for e in events] == ["CaseOpened", "AwardGranted"]


async def test_every_reviewer_endpoint_needs_a_valid_token(awards, alice, settings) -> None:
    await send(settings, crossed(KITZINGEN))
    [case] = await cases_of(awards, alice, KITZINGEN)
    calls = [
        ("GET", "/v1/cases", None), ("GET", f"/v1/cases/{case['case_id']}", None), ("GET", "/v1/me", None),
        ("POST", f"/v1/cases/{case['case_id']}/claim", None),
        ("POST", f"/v1/cases/{case['case_id']}/decision", {"decision": "approve"}),
        ("POST", f"/v1/cases/{case['case_id']}/release", None),
        ("POST", f"/v1/cases/{case['case_id']}/assign", {"reviewer": "alice"}),
        ("POST", f"/v1/authorities/{KITZINGEN}/cases", None), ("GET", "/v1/reviewers", None),
    ]
    bad_headers = [{}, {"Authorization": "Bearer nope"}, {"Authorization": alice["Authorization"].replace("Bearer", "Basic")}]
    for method, path, body in calls:
        for headers in bad_headers:
            r = await awards.request(method, path, json=body, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.status_code)
            assert r.headers["www-authenticate"] == "Bearer"
    from services.awards import handlers

    assert await handlers.revoke_reviewer(awards.rt.pool, "alice") == []
    assert (await awards.get("/v1/cases", headers=alice)).status_code == 401
    assert (await awards.get("/healthz")).status_code == 200
    assert (await awards.get("/console")).status_code == 200


async def test_unknown_cases_are_404_and_malformed_ids_422(awards, alice) -> None:
    assert (await awards.get("/v1/cases/6f1c2a52-0000-4000-8000-000000000000", headers=alice)).status_code == 404
    assert (await awards.post("/v1/cases/6f1c2a52-0000-4000-8000-000000000000/claim", headers=alice)).status_code == 404
    assert (await awards.get("/v1/cases/not-a-uuid", headers=alice)).status_code == 422
    assert (await awards.get("/v1/cases", params={"status": "lost"}, headers=alice)).status_code == 422


async def test_an_older_threshold_event_arriving_late_changes_nothing(awards, alice, settings, pool) -> None:
    """A re-published or re-driven ThresholdCrossed (number 1) after the ThresholdLost (number 2) it preceded."""
    first, then = crossed(WUERZBURG, count=50, sequence=1), lost(WUERZBURG, count=49, sequence=2)
    await send(settings, then, first)

    async def both_consumed() -> bool:
        return await pool.fetchval('SELECT sum("offset" + 1) FROM awards.consumer_offset') == 2

    await eventually(both_consumed)
    standing = await pool.fetchrow("SELECT count, eligible, sequence FROM awards.authority_standing WHERE authority_id = $1",
                                   WUERZBURG)
    assert tuple(standing) == (49, False, 2)
    assert await pool.fetchval("SELECT count(*) FROM awards.review_case") == 0, "a stale crossing opens no case"
