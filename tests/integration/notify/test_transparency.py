"""The public side beyond the listing: a page per authority (from eligibility's API), statistics with charts and a
map, exports; what is known is shown when eligibility does not answer."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date

import pytest

from harness.infra import free_port
from harness.kafka import produce
from services.notify.app import build as build_notify
from shared.authorities import registry
from shared.events import AwardGranted
from tests.conftest import eventually
from tests.support.public import public_site

KITZINGEN, WUERZBURG, UNTERFRANKEN, LK = "09675141", "09663000", "096", "09675"


@pytest.fixture(scope="module")
async def public(module_start, module_settings):
    """One public site for the module's tests that only read it."""
    async with public_site(module_start, module_settings) as notify:
        yield notify


async def test_an_authority_below_its_threshold_sees_what_counts_what_not_and_what_to_link_next(public) -> None:
    page = (await public.get(f"/behoerden/{KITZINGEN}")).text
    assert "<h2 id=\"name\">Stadt Kitzingen</h2>" in page and "Landkreis Kitzingen · Regierungsbezirk Unterfranken" in page
    assert "3 von 50 gezählten Online-Verfahren" in page and 'aria-valuenow="3"' in page
    assert "Es fehlen 47 Online-Verfahren" in page
    for name in ("Kitzinger Verfahren 0", "Kitzinger Verfahren 2"):
        assert name in page
    assert "Öffnungszeiten</td><td>Informationsseite" in page
    assert "Bundesantrag</td><td>Zuständigkeit „federal“" in page
    peers = sum(1 for a in registry() if a.kind in ("gemeinde", "markt", "stadt")) - 1
    profile = (await public.get(f"/v1/behoerden/{KITZINGEN}")).json()
    assert (profile["count"], profile["threshold"], profile["eligible"], len(profile["counted"]), len(profile["not_counted"])) == (
        3, 50, False, 3, 2)
    # 4 peers in the Landkreis: fewer than 10 suggestions there, so the advice comes from the widest level
    assert [(a["id"], a["peers_linking"]) for a in profile["advice"]] == [("p-a", 4), ("p-b", 2)]
    assert profile["advice"][0]["text"] == f"von 4 von {peers} Gemeinden, Märkten und Städten in Bayern verlinkt"
    assert profile["advice"][0]["text"] in page


async def test_a_holder_and_an_authority_under_review(public) -> None:
    bezirk = (await public.get(f"/behoerden/{UNTERFRANKEN}")).text
    assert "Bezirk Unterfranken" in bezirk and "Trägt die Auszeichnung „Digitales Amt“ seit dem 01.10.2026" in bezirk
    assert f'src="/signet/{UNTERFRANKEN}.svg"' in bezirk and "31 von 30 gezählten" in bezirk
    assert "Was als Nächstes verlinken?" not in bezirk, "no advice above the threshold"
    review = (await public.get(f"/behoerden/{WUERZBURG}")).text
    assert "Die Auszeichnung wird seit dem" in review and "geprüft" in review
    assert (await public.get("/behoerden/09999999")).status_code == 404


async def test_statistics_count_what_the_apis_say(public) -> None:
    s = (await public.get("/v1/statistics.json")).json()
    assert s["holders"]["total"] == 1 and s["holders"]["by_region"]["Unterfranken"] == 1
    assert s["holders"]["by_kind"]["Bezirk"] == 1 and s["authorities"] == len(registry())
    assert sum(b["authorities"] for b in s["counts"]["histogram"]) == len(registry())
    assert s["counts"]["eligible"] == 1
    missing = [c["missing"] for c in s["closest"]]
    assert len(missing) == 10 and missing == sorted(missing) and missing[0] == 30  # the other Bezirke, at 0 of 30
    assert s["holders_over_time"][0] == {"month": "2026-10", "holders": 1}
    assert any("GeoBasis-DE / BKG" in line for line in s["attribution"])
    kitzingen = next(k for k in s["kreise"] if k["ags"] == LK)
    assert kitzingen["authorities"] == sum(1 for a in registry() if a.key.startswith(LK)) and kitzingen["holders"] == 0
    page = (await public.get("/statistik")).text
    for title in ("Ausgezeichnete Behörden nach Regierungsbezirk", "Anteil der ausgezeichneten Behörden je Landkreis",
                  "Verteilung der gezählten Online-Verfahren"):
        assert f">{title}" in page
    assert page.count('role="img"') == 5 and "GeoBasis-DE / BKG" in page
    assert '<g id="map-kreis-09675"><title>Kitzingen: 0 von' in page


async def test_the_listing_as_csv_carries_its_sources(public) -> None:
    text = (await public.get("/v1/listing.csv")).text
    comments = [line for line in text.splitlines() if line.startswith("# ")]
    assert any("Destatis" in c for c in comments)
    rows = list(csv.DictReader(io.StringIO("\n".join(line for line in text.splitlines() if not line.startswith("#")))))
    assert rows == [{"authority_id": UNTERFRANKEN, "name": "Unterfranken", "display_name": "Bezirk Unterfranken",
                     "kind": "bezirk", "district": "", "region": "Unterfranken", "award_number": "DA-2026-00001",
                     "awarded_at": "2026-10-01"}]


async def test_every_authority_can_be_found(public) -> None:
    page = (await public.get("/behoerden", params={"q": "kitzingen"})).text
    for key, name in ((KITZINGEN, "Stadt Kitzingen"), (LK, "Landkreis Kitzingen"), ("096755617", "Verwaltungsgemeinschaft Kitzingen")):
        assert f'<a href="/behoerden/{key}">{name}</a>' in page
    assert "Name oder Schlüssel" in (await public.get("/")).text or "Jede Behörde" in (await public.get("/")).text


async def test_the_pages_work_when_eligibility_does_not_answer(start, settings) -> None:
    _, notify = await start("notify", build_notify, settings.model_copy(update={
        "eligibility_url": f"http://127.0.0.1:{free_port()}"}))
    grant = AwardGranted(authority_id=KITZINGEN, correlation_id="t", case_id=uuid.uuid4(), award_number="DA-2026-00002",
                         awarded_at=date(2026, 9, 1), reviewer="alice")
    await produce(settings, "awards.cases.v1", [(KITZINGEN, grant.to_json())])

    async def listed() -> bool:
        return len((await notify.get("/v1/listing.json")).json()["items"]) == 1

    await eventually(listed)
    page = await notify.get(f"/behoerden/{KITZINGEN}")
    assert page.status_code == 200 and "seit dem 01.09.2026" in page.text
    assert "derzeit nicht abrufbar" in page.text
    statistics = await notify.get("/statistik")
    assert statistics.status_code == 200 and "derzeit nicht abrufbar" in statistics.text
    assert (await notify.get("/v1/statistics.json")).json()["holders"]["total"] == 1
