"""The public pages in a real browser, with screenshots: a holder's page (Bezirk), an authority below its threshold
with its advice, one under review, the statistics with charts and the map; their numbers checked against the API."""

from __future__ import annotations

import pytest

from tests.support.browser import artifact, browser_page, serve
from tests.support.public import KITZINGEN, UNTERFRANKEN, WUERZBURG, public_site


@pytest.fixture
async def public(start, settings):
    async with public_site(start, settings) as notify:
        yield notify


async def test_authority_pages_statistics_and_map(public) -> None:
    profile = (await public.get(f"/v1/behoerden/{KITZINGEN}")).json()
    statistics = (await public.get("/v1/statistics.json")).json()
    async with serve(public.app) as base, browser_page() as page:  # type: ignore[attr-defined]
        await page.goto(f"{base}/")
        await page.get_by_label("Jede Behörde in Bayern finden", exact=False).fill("Kitzingen")
        await page.get_by_role("button", name="Suchen").click()
        await page.get_by_role("link", name="Stadt Kitzingen").click()
        await page.get_by_role("heading", name="Stadt Kitzingen").wait_for()
        bar = page.get_by_role("progressbar")
        assert await bar.get_attribute("aria-valuenow") == str(profile["count"])
        advice = await page.locator("ol li").all_inner_texts()
        assert [text.split(" – ")[1] for text in advice] == [a["text"] for a in profile["advice"]]
        await page.screenshot(path=artifact("authority-below-threshold-with-advice.png"), full_page=True)

        await page.goto(f"{base}/behoerden/{UNTERFRANKEN}")
        await page.get_by_text("Trägt die Auszeichnung").wait_for()
        await page.wait_for_function("document.querySelector('img').complete && document.querySelector('img').naturalWidth > 0")
        await page.screenshot(path=artifact("authority-holder-bezirk.png"), full_page=True)
        await page.goto(f"{base}/behoerden/{WUERZBURG}")
        await page.get_by_text("wird seit dem").wait_for()
        await page.screenshot(path=artifact("authority-under-review.png"), full_page=True)

        await page.goto(f"{base}/statistik")
        summary = await page.locator("main section").first.inner_text()
        assert f"{statistics['holders']['total']} von {statistics['authorities']} Behörden trägt" in summary
        assert await page.locator("svg[role=img]").count() == 5
        assert await page.locator("svg[role=img] title").first.text_content()
        region_rows = await page.locator("#region-h ~ table tbody tr").all_inner_texts()
        assert [r.split("\t") for r in region_rows] == [[k, str(v)] for k, v in statistics["holders"]["by_region"].items()]
        await page.screenshot(path=artifact("statistics.png"), full_page=True)
        await page.locator("#map-h").scroll_into_view_if_needed()
        await page.locator("figure").first.screenshot(path=artifact("statistics-map.png"))
        assert page.errors == []  # type: ignore[attr-defined]
