"""What a case rests on (the counted procedures at opening and now, read from eligibility's API), existing holders
imported from a file, and the queue's search and paging."""

from __future__ import annotations

from datetime import UTC, date, datetime

from harness.builders import change
from harness.kafka import events_of, read_topic
from harness.serve import served
from services.awards import holders
from services.awards.app import build as build_awards
from services.eligibility.app import build as build_eligibility
from services.ingest.app import build as build_ingest
from shared.authorities import registry
from tests.conftest import eventually, signed
from tests.support.awards import add_reviewer, cases_of, crossed, lost, send

KITZINGEN = "09675141"
TODAY = date(2026, 11, 27)


async def test_a_case_records_the_counted_procedures_at_opening_and_shows_what_changed(start, settings) -> None:
    _, ingest = await start("ingest", build_ingest)
    _, eligibility = await start("eligibility", build_eligibility)
    async with served(eligibility.app) as url:
        own = settings.model_copy(update={"eligibility_url": url})
        rt, awards = await start("awards", build_awards, own)
        alice = await add_reviewer(rt.pool, "alice")
        body = {"changes": [change(KITZINGEN, f"p-{i}", name=f"Verfahren {i}") for i in range(50)]
                + [change(KITZINGEN, "info", kind="information")]}
        assert (await ingest.post("/v1/portal/changes", **signed(body))).status_code == 202
        [case] = await cases_of(awards, alice, KITZINGEN)

        async def evidence() -> dict:
            c = (await awards.get(f"/v1/cases/{case['case_id']}", headers=alice)).json()
            assert c["procedures_at_opening"] is not None
            return c

        c = await eventually(evidence)
        assert sorted(p["id"] for p in c["procedures_at_opening"]) == sorted(f"p-{i}" for i in range(50))
        assert c["procedures_at_opening"][0].keys() == {"id", "name", "scope", "linked_at"}
        assert (c["added"], c["removed"]) == ([], [])

        later = {"changes": [change(KITZINGEN, "p-0", action="unlinked", minute=5), change(KITZINGEN, "p-new", minute=5)]}
        assert (await ingest.post("/v1/portal/changes", **signed(later))).status_code == 202

        async def changed() -> dict:
            c = (await awards.get(f"/v1/cases/{case['case_id']}", headers=alice)).json()
            assert [p["id"] for p in c["added"]] == ["p-new"] and [p["id"] for p in c["removed"]] == ["p-0"], c
            return c

        c = await eventually(changed)
        assert len(c["procedures_now"]) == 50 and len(c["procedures_at_opening"]) == 50


async def test_the_case_view_says_when_eligibility_cannot_be_asked(awards, alice, settings) -> None:
    await send(settings, crossed(KITZINGEN))
    [case] = await cases_of(awards, alice, KITZINGEN)
    c = (await awards.get(f"/v1/cases/{case['case_id']}", headers=alice)).json()
    assert c["procedures_now"] is None and c["procedures_at_opening"] is None  # nothing listens on its URL here


def test_a_holders_file_is_checked_line_by_line() -> None:
    text = (
        "authority_id,award_number,awarded_at,revoked_at\n"
        "09675141,DA-2024-00003,2024-05-02,\n"
        "09999999,DA-2024-00004,2024-05-02,\n"
        "09663000,DA-24-4,2024-05-02,\n"
        "09675,DA-2025-00001,2024-05-02,\n"
        "096,DA-2024-00003,2024-06-01,\n"
        "09675141,DA-2024-00009,2024-07-01,\n"
        "09162000,DA-2024-00010,2024-07-01,2024-06-30\n"
        "091,DA-2026-00010,2026-12-24,\n"
    )
    _, errors = holders.parse(text, registry(), TODAY)
    assert errors == [
        "Zeile 3: unbekannte Behörde '09999999'",
        "Zeile 4: Auszeichnungsnummer 'DA-24-4' hat nicht die Form DA-JJJJ-NNNNN",
        "Zeile 5: das Jahr der Nummer DA-2025-00001 ist nicht das Jahr der Verleihung 2024-05-02",
        "Zeile 8: der Widerruf am 2024-06-30 liegt vor der Verleihung am 2024-07-01",
        "Zeile 9: die Verleihung am 2026-12-24 liegt in der Zukunft",
        "Zeile 6: die Nummer DA-2024-00003 steht schon in Zeile 2",
        "Zeile 7: die Behörde hat schon in Zeile 2 eine geltende Auszeichnung",
    ]
    assert holders.parse("ags,nummer\n", registry(), TODAY)[1][0].startswith("Zeile 1: die Kopfzeile muss")


async def test_imported_holders_are_holders_numbers_continue_and_a_second_import_changes_nothing(
    awards, alice, settings, pool
) -> None:
    text = (
        "authority_id,award_number,awarded_at,revoked_at\n"
        f"{KITZINGEN},DA-{TODAY.year}-00041,{TODAY.year}-03-02,\n"
        "09663000,DA-2024-00007,2024-05-02,2025-01-10\n"
    )
    found, errors = holders.parse(text, registry(), TODAY)
    assert errors == []
    assert await holders.store(awards.rt.pool, found) == (2, [])
    assert await holders.store(awards.rt.pool, found) == (0, [])
    imported = events_of(await read_topic(settings, "awards.cases.v1", at_least=2, settle=1.0))
    assert sorted((e["event_type"], e["award_number"], e["revoked_at"]) for e in imported) == [
        ("AwardImported", "DA-2024-00007", "2025-01-10"), ("AwardImported", f"DA-{TODAY.year}-00041", None)
    ]
    conflicting = holders.parse(f"authority_id,award_number,awarded_at\n{KITZINGEN},DA-{TODAY.year}-00041,"
                                f"{TODAY.year}-03-03\n", registry(), TODAY)[0]
    assert (await holders.store(awards.rt.pool, conflicting))[1] == [
        f"Zeile 2: die Nummer DA-{TODAY.year}-00041 ist schon an {KITZINGEN} vom {TODAY.year}-03-02 vergeben"
    ]

    await send(settings, crossed(KITZINGEN, count=60))  # a holder: no award case
    await send(settings, lost(KITZINGEN, count=45))  # ... and a dip starts its grace period
    [revocation] = await cases_of(awards, alice, KITZINGEN)
    assert (revocation["kind"], revocation["award_number"]) == ("revocation", f"DA-{TODAY.year}-00041")

    await send(settings, crossed("09663000"))  # revoked long ago: reviewed for a new award
    [award] = await cases_of(awards, alice, "09663000")
    await awards.post(f"/v1/cases/{award['case_id']}/claim", headers=alice)
    granted = await awards.post(f"/v1/cases/{award['case_id']}/decision", json={"decision": "approve"}, headers=alice)
    year = datetime.now(UTC).year
    assert granted.status_code == 200
    assert await pool.fetchval("SELECT award_number FROM awards.award WHERE case_id = $1", granted.json()["case_id"]) == (
        f"DA-{year}-00042" if year == TODAY.year else f"DA-{year}-00001")


async def test_the_queue_is_searched_by_name_or_key_and_paged(awards, alice, settings) -> None:
    keys = ["09675141", "09675", "096755617", "09663000", "09162000"]  # Kitzingen (Stadt, Landkreis, VG), ...
    await send(settings, *(crossed(k, threshold=50) for k in keys))

    async def all_open() -> bool:
        return (await awards.get("/v1/cases", headers=alice)).json()["total"] == 5

    await eventually(all_open)
    by_name = (await awards.get("/v1/cases", params={"q": "kitzingen"}, headers=alice)).json()
    assert sorted(c["authority_id"] for c in by_name["items"]) == ["09675", "09675141", "096755617"]
    by_kind = (await awards.get("/v1/cases", params={"q": "Landkreis Kitz"}, headers=alice)).json()
    assert [c["authority_id"] for c in by_kind["items"]] == ["09675"]
    by_key = (await awards.get("/v1/cases", params={"q": "0916"}, headers=alice)).json()
    assert [c["authority_id"] for c in by_key["items"]] == ["09162000"]
    page = (await awards.get("/v1/cases", params={"limit": 2, "offset": 4}, headers=alice)).json()
    assert (page["total"], len(page["items"])) == (5, 1)
