"""The listing, the signet and the verify page follow the award events."""

from __future__ import annotations

import uuid
from datetime import date
from xml.etree import ElementTree

import pytest

from harness.kafka import produce
from services.notify.app import build as build_notify
from shared.events import AwardGranted, AwardRevoked
from tests.conftest import eventually

KITZINGEN, WUERZBURG, BEZIRK = "09675141", "09663000", "096"


def granted(authority_id: str, number: str, day: date) -> AwardGranted:
    return AwardGranted(authority_id=authority_id, correlation_id="t", case_id=uuid.uuid4(), award_number=number,
                        awarded_at=day, reviewer="alice")


@pytest.fixture
async def notify(start_notify, settings):
    _, client = await start_notify()
    events = [
        granted(KITZINGEN, "DA-2026-00001", date(2026, 3, 1)),
        granted(WUERZBURG, "DA-2026-00002", date(2026, 5, 1)),
        granted(BEZIRK, "DA-2026-00003", date(2026, 4, 1)),
        AwardRevoked(authority_id=WUERZBURG, correlation_id="t", case_id=uuid.uuid4(), award_number="DA-2026-00002",
                     reason="zu wenige", reviewer="bob"),
    ]
    await produce(settings, "awards.cases.v1", [(e.authority_id, e.to_json()) for e in events])

    async def listed() -> bool:
        items = (await client.get("/v1/listing.json")).json()["items"]
        return len(items) == 2 and (await client.get("/verify/DA-2026-00002")).text.count("Widerrufen") > 0

    await eventually(listed)
    return client


async def test_listing_json_has_current_holders_newest_first(notify) -> None:
    items = (await notify.get("/v1/listing.json")).json()["items"]
    assert items == [
        {"authority_id": BEZIRK, "name": "Unterfranken", "display_name": "Bezirk Unterfranken", "kind": "bezirk",
         "district": None, "region": "Unterfranken", "award_number": "DA-2026-00003", "awarded_at": "2026-04-01"},
        {"authority_id": KITZINGEN, "name": "Kitzingen", "display_name": "Stadt Kitzingen", "kind": "stadt",
         "district": "Kitzingen", "region": "Unterfranken", "award_number": "DA-2026-00001", "awarded_at": "2026-03-01"},
    ]


async def test_listing_page_filters_by_region_and_name(notify) -> None:
    page = (await notify.get("/")).text
    assert "Kitzingen" in page and "Unterfranken" in page and "Würzburg" not in page
    assert page.index("DA-2026-00003") < page.index("DA-2026-00001")
    assert "01.03.2026" in page and "Stadt" in page
    oberbayern = (await notify.get("/", params={"region": "Oberbayern"})).text
    assert "DA-2026-00001" not in oberbayern and "Keine Behörde gefunden" in oberbayern
    found = (await notify.get("/", params={"q": "kitz"})).text
    assert "DA-2026-00001" in found and "DA-2026-00003" not in found
    hostile = (await notify.get("/", params={"q": '<script>alert(1)</script>"'})).text
    assert "<script>alert(1)" not in hostile and "&lt;script&gt;alert(1)&lt;/script&gt;&#34;" in hostile


async def test_signet_for_holders_only(notify) -> None:
    r = await notify.get(f"/signet/{KITZINGEN}.svg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    root = ElementTree.fromstring(r.content)
    text = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "Digitales Amt" in text and "Stadt Kitzingen" in text and "2026" in text
    assert 'href="https://digitales-amt.example/verify/DA-2026-00001"' in r.text
    assert (await notify.get(f"/signet/{WUERZBURG}.svg")).status_code == 404
    missing = await notify.get("/signet/09162000.svg")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "Für diese Behörde gibt es kein gültiges Signet" in missing.text


async def test_the_signet_as_png_at_the_widths_people_embed_it(notify) -> None:
    for width in (120, 480, 600):
        r = await notify.get(f"/signet/{KITZINGEN}.png", params={"width": width})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(r.content[16:20], "big") == width  # the IHDR's width
    assert (await notify.get(f"/signet/{KITZINGEN}.png", params={"width": 5000})).status_code == 422
    assert (await notify.get(f"/signet/{WUERZBURG}.png")).status_code == 404


async def test_every_page_a_person_reaches_answers_errors_in_german_html(notify) -> None:
    for path, words in (("/verify/DA-2026-99999", "mit der Nummer DA-2026-99999 gibt es nicht"),
                        ("/gibt/es/nicht", "Diese Seite gibt es nicht"),
                        ("/plakette/unbekannt", "Diesen Link zur Plakette gibt es nicht")):
        r = await notify.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
        assert words in r.text and '<html lang="de">' in r.text and "Zum Verzeichnis" in r.text, path
    machine = await notify.get("/v1/gibt-es-nicht")
    assert machine.status_code == 404 and machine.json() == {"detail": "Not Found"}


async def test_the_listing_names_the_configured_thresholds(start, settings) -> None:
    _, notify = await start("notify", build_notify, settings.model_copy(update={"threshold_default": 40,
                                                                                "threshold_bezirk": 25}))
    page = (await notify.get("/")).text
    assert "mindestens 40 Online-Verfahren" in page and "Bezirke: 25" in page and "50" not in page.split("<main>")[1]


async def test_verify_confirms_current_denies_revoked_and_404s_unknown(notify) -> None:
    current = (await notify.get("/verify/DA-2026-00001")).text
    assert "Gültig" in current and "Die Stadt Kitzingen (Landkreis Kitzingen, Unterfranken)" in current
    assert "01.03.2026" in current
    assert '&lt;a href=&#34;https://digitales-amt.example/verify/DA-2026-00001&#34;&gt;' in current, "the snippet"
    revoked = (await notify.get("/verify/DA-2026-00002")).text
    assert "Widerrufen" in revoked and "widerrufen" in revoked and "Würzburg" in revoked
    assert (await notify.get("/verify/DA-2026-99999")).status_code == 404


async def test_a_grant_for_an_authority_that_holds_another_award_is_not_dead_lettered(start, settings, pool) -> None:
    """Re-driven or re-ordered: the second AwardGranted meets the one-current-award index and is skipped."""
    import uuid
    from datetime import date

    from harness.kafka import produce
    from services.notify.app import build as build_notify
    from shared.events import AwardGranted
    from tests.conftest import eventually

    _, client = await start("notify", build_notify)
    grants = [
        AwardGranted(authority_id="09675141", correlation_id="t", case_id=uuid.uuid4(), award_number=number,
                     awarded_at=date(2026, 11, day), reviewer="alice")
        for number, day in (("DA-2026-00001", 2), ("DA-2026-00007", 9))
    ]
    await produce(settings, "awards.cases.v1", [(g.authority_id, g.to_json()) for g in grants])

    async def both_consumed() -> bool:
        return await pool.fetchval('SELECT sum("offset" + 1) FROM notify.consumer_offset') == 2

    await eventually(both_consumed)
    listing = (await client.get("/v1/listing.json")).json()["items"]
    assert [(i["authority_id"], i["award_number"]) for i in listing] == [("09675141", "DA-2026-00001")]
    assert await pool.fetchval("SELECT count(*) FROM notify.outbox WHERE event_type = 'DeadLetter'") == 0
