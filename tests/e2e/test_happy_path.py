"""One happy path through all four services over the real broker, database and SMTP server."""

from __future__ import annotations

from harness.builders import change
from harness.smtp import body, smtp_server
from services.awards.app import build as build_awards
from services.eligibility.app import build as build_eligibility
from services.ingest.app import build as build_ingest
from services.notify import repository as notify_repository
from services.notify.app import build as build_notify
from tests.conftest import eventually, signed
from tests.support.awards import add_reviewer

IPHOFEN = "096755616"
MAIL = "vg@iphofen.example.invalid"


async def test_from_portal_changes_to_award_email_and_listing(start, settings) -> None:
    with smtp_server() as (sink, port):
        own = settings.model_copy(update={"smtp_port": port})
        _, ingest = await start("ingest", build_ingest, own)
        _, eligibility = await start("eligibility", build_eligibility, own)
        awards_rt, awards = await start("awards", build_awards, own)
        notify_rt, notify = await start("notify", build_notify, own)
        async with notify_rt.pool.acquire() as conn:
            await notify_repository.upsert_contacts(conn, [(IPHOFEN, MAIL)])
        reviewer = await add_reviewer(awards_rt.pool, "Referat D3")

        changes = [change(IPHOFEN, f"p-{i}") for i in range(49)] + [change(IPHOFEN, "info", kind="information")]
        assert (await ingest.post("/v1/portal/changes", **signed({"changes": changes}))).json()["accepted"] == 50
        assert (await ingest.post("/v1/portal/changes", **signed({"changes": [change(IPHOFEN, "p-49")]}))).status_code == 202

        async def case() -> dict:
            items = (await awards.get("/v1/cases", headers=reviewer)).json()["items"]
            assert items, "no case yet"
            return items[0]

        opened = await eventually(case, timeout=60)
        assert (opened["authority_id"], opened["kind"], opened["count"]) == (IPHOFEN, "award", 50)
        assert (await eligibility.get(f"/v1/authorities/{IPHOFEN}")).json()["eligible"] is True

        assert (await awards.post(f"/v1/cases/{opened['case_id']}/claim", headers=reviewer)).status_code == 200
        decided = await awards.post(f"/v1/cases/{opened['case_id']}/decision", json={"decision": "approve"}, headers=reviewer)
        assert decided.status_code == 200
        number = decided.json()["award_number"]

        async def listed() -> list:
            items = (await notify.get("/v1/listing.json")).json()["items"]
            assert items
            return items

        [holder] = await eventually(listed, timeout=60)
        assert (holder["authority_id"], holder["name"], holder["kind"], holder["award_number"]) == (
            IPHOFEN, "Iphofen", "verwaltungsgemeinschaft", number
        )

        async def two_emails() -> bool:
            return len(sink.to(MAIL)) == 2

        await eventually(two_emails, timeout=60)
        subjects = sorted(m["Subject"] for m in sink.to(MAIL))
        assert subjects == ["Herzlichen Glückwunsch: Verwaltungsgemeinschaft Iphofen ist „Digitales Amt“",
                            "„Digitales Amt“: Prüfung eröffnet – Verwaltungsgemeinschaft Iphofen"]
        congratulation = next(m for m in sink.messages if "Glückwunsch" in m["Subject"])
        assert number in body(congratulation, "plain")
        assert (await notify.get(f"/signet/{IPHOFEN}.svg")).status_code == 200
        assert "Gültig" in (await notify.get(f"/verify/{number}")).text
