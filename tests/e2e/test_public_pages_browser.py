"""The public listing, the signet and the verify page in a real headless browser, with screenshots."""

from __future__ import annotations

import uuid
from datetime import date

from harness.kafka import produce
from services.notify.app import build as build_notify
from shared.events import AwardGranted, AwardRevoked
from tests.conftest import eventually
from tests.support.browser import artifact, browser_page, serve


async def test_listing_signet_and_verify_pages(start, settings) -> None:
    _, client = await start("notify", build_notify)
    day = date(2026, 11, 26)
    holders = ["09675141", "09663000", "096", "09162000", "091", "096755616", "09271111"]
    events = [
        AwardGranted(authority_id=a, correlation_id="t", case_id=uuid.uuid4(), award_number=f"DA-2026-{i + 1:05d}",
                     awarded_at=day.replace(day=1 + i), reviewer="r")
        for i, a in enumerate(holders)
    ]
    events.append(AwardRevoked(authority_id="09663000", correlation_id="t", case_id=uuid.uuid4(),
                               award_number="DA-2026-00002", reason="x", reviewer="r"))
    await produce(settings, "awards.cases.v1", [(e.authority_id, e.to_json()) for e in events])

    async def listed() -> bool:
        return len((await client.get("/v1/listing.json")).json()["items"]) == len(holders) - 1

    await eventually(listed)
    async with serve(client.app) as base, browser_page() as page:  # type: ignore[attr-defined]
        await page.goto(f"{base}/")
        await page.get_by_role("heading", name="Digitales Amt").wait_for()
        rows = page.get_by_role("row")
        assert await rows.count() == len(holders)  # header + 6 holders
        assert "Kitzingen" in await rows.nth(6).inner_text() and "Würzburg" not in await page.content()
        await page.screenshot(path=artifact("listing.png"), full_page=True)

        await page.get_by_label("Regierungsbezirk").select_option("Oberbayern")
        await page.get_by_role("button", name="Filtern").click()
        await page.wait_for_url("**region=Oberbayern**")
        names = await page.locator("tbody tr td:first-child").all_inner_texts()
        assert sorted(names) == ["Bezirk Oberbayern", "Stadt München"]

        await page.goto(f"{base}/signet/09675141.svg")
        await page.screenshot(path=artifact("signet.png"))
        await page.goto(f"{base}/verify/DA-2026-00001")
        await page.get_by_text("Gültig", exact=True).wait_for()
        signet = page.get_by_role("img", name="Signet „Digitales Amt“ – Stadt Kitzingen")
        assert await signet.evaluate("img => img.naturalWidth") > 0
        await page.screenshot(path=artifact("verify-current.png"), full_page=True)
        await page.goto(f"{base}/verify/DA-2026-00002")
        await page.get_by_text("Widerrufen", exact=True).wait_for()
        await page.screenshot(path=artifact("verify-revoked.png"), full_page=True)
        assert page.errors == []  # type: ignore[attr-defined]
