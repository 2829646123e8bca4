"""The life after the first decision, over the real database and broker, with timers of seconds: re-review,
hand-over, grace before revocation, a revocation case that closes itself, Berlin dates."""

from __future__ import annotations

from datetime import UTC, datetime

from harness.kafka import events_of, read_topic
from services.awards import handlers
from services.awards.app import build as build_awards
from tests.conftest import eventually
from tests.support.awards import add_reviewer, cases_of, crossed, history_of, lost, send

CASES = "awards.cases.v1"
KITZINGEN, WUERZBURG, UNTERFRANKEN = "09675141", "09663000", "096"


async def _decide(awards, headers, case_id: str, decision: str, reason: str | None = None):  # noqa: ANN001, ANN202
    await awards.post(f"/v1/cases/{case_id}/claim", headers=headers)
    return await awards.post(f"/v1/cases/{case_id}/decision", json={"decision": decision, "reason": reason},
                             headers=headers)


async def _types(settings, at_least: int, settle: float = 1.0) -> list[str]:  # noqa: ANN001
    return [e["event_type"] for e in events_of(await read_topic(settings, CASES, at_least=at_least, settle=settle))]


async def test_a_rejected_authority_still_eligible_is_reviewed_again_by_itself(awards, alice, settings) -> None:
    await send(settings, crossed(KITZINGEN, count=55))
    [first] = await cases_of(awards, alice, KITZINGEN)
    rejected = await _decide(awards, alice, first["case_id"], "reject", "Verknüpfungen fehlerhaft")
    assert rejected.status_code == 200
    [again] = [c for c in await cases_of(awards, alice, KITZINGEN, n=2) if c["case_id"] != first["case_id"]]
    assert (again["kind"], again["status"]) == ("award", "open")
    assert await history_of(awards, alice, again["case_id"]) == ["opened"]
    approved = await _decide(awards, alice, again["case_id"], "approve")
    assert approved.status_code == 200
    events = events_of(await read_topic(settings, CASES, at_least=4))
    assert [e["event_type"] for e in events] == ["CaseOpened", "AwardRejected", "CaseOpened", "AwardGranted"]
    assert events[1]["rereview_on"] is not None and events[1]["threshold"] == 50


async def test_a_dip_during_probation_stops_the_clock(awards, alice, settings, pool) -> None:
    await send(settings, crossed(KITZINGEN, count=55))
    [first] = await cases_of(awards, alice, KITZINGEN)
    await _decide(awards, alice, first["case_id"], "reject", "zu früh")
    await send(settings, lost(KITZINGEN, count=49))

    async def stopped() -> bool:
        row = await pool.fetchrow("SELECT probation, rereview_due_at FROM awards.authority_standing WHERE authority_id = $1",
                                  KITZINGEN)
        return row["probation"] and row["rereview_due_at"] is None

    await eventually(stopped)
    await send(settings, crossed(KITZINGEN, count=50))  # the clock starts again: a new case once eligible long enough
    assert len(await cases_of(awards, alice, KITZINGEN, n=2)) == 2


async def test_a_reviewer_opens_a_new_review_by_hand_and_refusals_are_german(awards, alice, settings) -> None:
    unknown = await awards.post("/v1/authorities/09999999/cases", headers=alice)
    assert unknown.status_code == 404 and "Unbekannte Behörde" in unknown.json()["detail"]
    await send(settings, lost(WUERZBURG, count=40))
    await send(settings, crossed(KITZINGEN, count=51))
    [first] = await cases_of(awards, alice, KITZINGEN)

    async def below_refused() -> bool:
        r = await awards.post(f"/v1/authorities/{WUERZBURG}/cases", headers=alice)
        assert r.status_code == 409 and r.json()["detail"] == (
            "Die Behörde erreicht ihre Schwelle derzeit nicht (40 von 50 Verfahren).")
        return True

    await eventually(below_refused)
    open_already = await awards.post(f"/v1/authorities/{KITZINGEN}/cases", headers=alice)
    assert open_already.status_code == 409 and open_already.json()["detail"] == "Für diese Behörde ist bereits eine Prüfung offen."
    await _decide(awards, alice, first["case_id"], "reject", "Nachweise fehlen")
    opened = await awards.post(f"/v1/authorities/{KITZINGEN}/cases", headers=alice)
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["kind"], case["status"], case["count"]) == ("award", "open", 51)
    assert [(a["action"], a["actor"]) for a in case["history"]] == [("opened", "alice")]
    await _decide(awards, alice, case["case_id"], "approve")
    holder = await awards.post(f"/v1/authorities/{KITZINGEN}/cases", headers=alice)
    assert holder.status_code == 409 and "trägt die Auszeichnung bereits" in holder.json()["detail"]
    assert await _types(settings, 4) == ["CaseOpened", "AwardRejected", "CaseOpened", "AwardGranted"]


async def test_a_decided_case_answers_409_before_the_reason_is_looked_at(awards, alice, settings) -> None:
    await send(settings, crossed(KITZINGEN))
    [case] = await cases_of(awards, alice, KITZINGEN)
    await _decide(awards, alice, case["case_id"], "approve")
    for body in ({"decision": "reject"}, {"decision": "reject", "reason": ""}, {"decision": "revoke"}):
        r = await awards.post(f"/v1/cases/{case['case_id']}/decision", json=body, headers=alice)
        assert r.status_code == 409 and r.json()["detail"] == "Der Fall ist bereits abgeschlossen.", (body, r.text)


async def test_hand_over_release_assign_and_a_revoked_reviewers_claims(awards, alice, bob, lead, settings) -> None:
    await send(settings, crossed(KITZINGEN), crossed(WUERZBURG))
    [k] = await cases_of(awards, alice, KITZINGEN)
    [w] = await cases_of(awards, alice, WUERZBURG)
    await awards.post(f"/v1/cases/{k['case_id']}/claim", headers=alice)
    assert (await awards.post(f"/v1/cases/{k['case_id']}/release", headers=bob)).status_code == 409
    released = await awards.post(f"/v1/cases/{k['case_id']}/release", headers=alice)
    assert released.status_code == 200 and (released.json()["status"], released.json()["claimed_by"]) == ("open", None)
    assert (await awards.post(f"/v1/cases/{k['case_id']}/release", headers=alice)).status_code == 409

    not_lead = await awards.post(f"/v1/cases/{k['case_id']}/assign", json={"reviewer": "bob"}, headers=alice)
    assert not_lead.status_code == 409 and not_lead.json()["detail"] == "Nur eine Leitung kann Fälle zuweisen."
    nobody = await awards.post(f"/v1/cases/{k['case_id']}/assign", json={"reviewer": "niemand"}, headers=lead)
    assert nobody.status_code == 422 and nobody.json()["errors"][0]["field"] == "reviewer"
    assigned = await awards.post(f"/v1/cases/{k['case_id']}/assign", json={"reviewer": "bob"}, headers=lead)
    assert assigned.status_code == 200 and assigned.json()["claimed_by"] == "bob"
    await awards.post(f"/v1/cases/{w['case_id']}/claim", headers=bob)
    load = {r["name"]: r["claimed"] for r in (await awards.get("/v1/reviewers", headers=lead)).json()}
    assert load == {"alice": 0, "bob": 2, "leitung": 0}
    assert (await awards.get("/v1/reviewers", headers=bob)).status_code == 403
    mine = (await awards.get("/v1/cases", params={"claimed_by": "bob"}, headers=lead)).json()
    assert mine["total"] == 2

    assert sorted(map(str, await handlers.revoke_reviewer(awards.rt.pool, "bob"))) == sorted([k["case_id"], w["case_id"]])
    queue = (await awards.get("/v1/cases", params={"status": "open"}, headers=alice)).json()
    assert queue["total"] == 2
    assert (await _decide(awards, alice, k["case_id"], "approve")).status_code == 200
    history = (await awards.get(f"/v1/cases/{k['case_id']}", headers=alice)).json()["history"]
    assert [(a["action"], a["actor"], a["reason"]) for a in history] == [
        ("opened", "system", None), ("claimed", "alice", None), ("released", "alice", None),
        ("assigned", "leitung", "an bob"), ("released", "system", "Zugang von bob widerrufen"),
        ("claimed", "alice", None), ("approve", "alice", None),
    ]


async def test_a_holder_that_dips_and_recovers_within_its_grace_gets_one_warning_and_no_case(
    start, settings, pool
) -> None:
    own = settings.model_copy(update={"revocation_grace_days": 6 / 86_400, "timer_poll_s": 0.1})
    rt, awards = await start("awards", build_awards, own)
    alice = await add_reviewer(rt.pool, "alice")
    await send(settings, crossed(KITZINGEN))
    [case] = await cases_of(awards, alice, KITZINGEN)
    await _decide(awards, alice, case["case_id"], "approve")
    for n in range(3):  # flapping: below, back, below, back, ...
        await send(settings, lost(KITZINGEN, count=49), crossed(KITZINGEN, count=50))

    async def grace_over() -> bool:  # the deadline passed while at the threshold: the window closes quietly
        return await pool.fetchval("SELECT grace_until FROM awards.authority_standing WHERE authority_id = $1",
                                   KITZINGEN) is None and await pool.fetchval(
            'SELECT sum("offset" + 1) FROM awards.consumer_offset') == 7

    await eventually(grace_over, timeout=30)
    assert await _types(settings, 4) == ["CaseOpened", "AwardGranted", "GracePeriodStarted", "GracePeriodEnded"]
    assert (await awards.get("/v1/cases", headers=alice)).json()["total"] == 1


async def test_a_revocation_case_closes_itself_when_the_count_recovers(awards, alice, settings) -> None:
    await send(settings, crossed(UNTERFRANKEN, count=30, threshold=30))
    [case] = await cases_of(awards, alice, UNTERFRANKEN)
    await _decide(awards, alice, case["case_id"], "approve")
    await send(settings, lost(UNTERFRANKEN, count=29, threshold=30))
    [revocation] = [c for c in await cases_of(awards, alice, UNTERFRANKEN, n=2) if c["kind"] == "revocation"]
    await awards.post(f"/v1/cases/{revocation['case_id']}/claim", headers=alice)
    await send(settings, crossed(UNTERFRANKEN, count=31, threshold=30))

    async def closed() -> dict:
        c = (await awards.get(f"/v1/cases/{revocation['case_id']}", headers=alice)).json()
        assert c["status"] == "closed", c["status"]
        return c

    c = await eventually(closed)
    assert (c["reason"], c["claimed_by"], c["history"][-1]["action"]) == ("Schwelle wieder erreicht", None, "closed")
    refused = await awards.post(f"/v1/cases/{revocation['case_id']}/decision",
                                json={"decision": "revoke", "reason": "x"}, headers=alice)
    assert refused.status_code == 409
    events = events_of(await read_topic(settings, CASES, at_least=5))
    assert [e["event_type"] for e in events] == [
        "CaseOpened", "AwardGranted", "GracePeriodStarted", "CaseOpened", "CaseClosed"
    ]
    assert (events[4]["kind"], events[4]["count"]) == ("revocation", 31)


async def test_revoke_is_refused_while_the_authority_meets_its_threshold(awards, alice, settings, pool) -> None:
    await send(settings, crossed(KITZINGEN))
    [case] = await cases_of(awards, alice, KITZINGEN)
    await _decide(awards, alice, case["case_id"], "approve")
    await send(settings, lost(KITZINGEN, count=48))
    [revocation] = [c for c in await cases_of(awards, alice, KITZINGEN, n=2) if c["kind"] == "revocation"]
    await awards.post(f"/v1/cases/{revocation['case_id']}/claim", headers=alice)
    # the count recovers, but the event has not arrived yet: the standing is what decides
    await pool.execute("UPDATE awards.authority_standing SET eligible = true, count = 50 WHERE authority_id = $1", KITZINGEN)
    refused = await awards.post(f"/v1/cases/{revocation['case_id']}/decision",
                                json={"decision": "revoke", "reason": "zu wenige"}, headers=alice)
    assert refused.status_code == 409 and "nicht widerrufen" in refused.json()["detail"]


async def test_an_approval_at_half_past_eleven_utc_on_new_years_eve_gets_the_next_years_number(
    start, settings
) -> None:
    def at_new_year(rt):  # noqa: ANN001, ANN202 - the process's clock, as it would read on 31 December 23:30 UTC
        rt.clock = lambda: datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
        return build_awards(rt)

    rt, awards = await start("awards", at_new_year)
    alice = await add_reviewer(rt.pool, "alice")
    await send(settings, crossed(KITZINGEN))
    [case] = await cases_of(awards, alice, KITZINGEN)
    approved = await _decide(awards, alice, case["case_id"], "approve")
    assert approved.status_code == 200
    [grant] = [e for e in events_of(await read_topic(settings, CASES, at_least=2)) if e["event_type"] == "AwardGranted"]
    assert (grant["award_number"], grant["awarded_at"]) == ("DA-2027-00001", "2027-01-01")
