"""What an authority receives, in a real browser, with screenshots: every email as it renders, the listing, the verify
page with its snippet, the signet as SVG (120 and 600 px) and PNG, the plaque form, and the console's plaque view."""

from __future__ import annotations

import uuid
from datetime import date

from harness.kafka import produce
from services.awards.app import build as build_awards
from services.notify.app import build as build_notify
from services.notify.mail import SUBJECTS, render
from shared.events import AwardGranted
from tests.conftest import eventually
from tests.support.awards import add_reviewer
from tests.support.browser import artifact, browser_page, serve
from tests.unit.notify.test_templates import PAYLOADS, SETTINGS

KITZINGEN = "09675141"


async def test_every_email_as_it_renders() -> None:
    async with browser_page() as page:
        for key in sorted(SUBJECTS):
            subject, _, html = render(key.split("/")[0], {"authority_id": KITZINGEN, **PAYLOADS[key]}, SETTINGS)
            await page.set_content(html)
            assert await page.title() == subject
            assert "Stadt Kitzingen" in await page.inner_text("body")
            await page.screenshot(path=artifact(f"email-{key.replace('/', '-')}.png"), full_page=True)


async def test_listing_verify_signet_plaque_form_and_the_consoles_plaque_view(start, settings, pool) -> None:
    rt, notify = await start("notify", build_notify)
    grant = AwardGranted(authority_id=KITZINGEN, correlation_id="t", case_id=uuid.uuid4(), award_number="DA-2026-00001",
                         awarded_at=date(2026, 11, 26), reviewer="alice")
    await produce(settings, "awards.cases.v1", [(KITZINGEN, grant.to_json())])

    async def token() -> str:
        return await pool.fetchval("SELECT payload->>'plaque_token' FROM notify.notification") or ""

    plaque = await eventually(token)
    async with serve(notify.app) as base, browser_page() as page:  # type: ignore[attr-defined]
        await page.goto(f"{base}/")
        await page.get_by_role("cell", name="Stadt Kitzingen").wait_for()
        await page.screenshot(path=artifact("listing.png"), full_page=True)

        await page.goto(f"{base}/verify/DA-2026-00001")
        await page.get_by_text("Gültig").wait_for()
        assert "<a href=" in await page.locator("pre.snippet").inner_text()
        await page.screenshot(path=artifact("verify.png"), full_page=True)

        await page.set_content(
            f'<p><img id="small" src="{base}/signet/{KITZINGEN}.svg" width="120"></p>'
            f'<p><img id="large" src="{base}/signet/{KITZINGEN}.svg" width="600"></p>'
            f'<p><img id="png" src="{base}/signet/{KITZINGEN}.png?width=480" width="480"></p>')
        for image in ("small", "large", "png"):
            await page.wait_for_function(f"document.getElementById('{image}').complete")
            assert await page.evaluate(f"document.getElementById('{image}').naturalWidth") > 0, image
        await page.screenshot(path=artifact("signet-svg-120-600-and-png.png"), full_page=True)

        await page.goto(f"{base}/plakette/{plaque}")
        await page.get_by_role("button", name="Plakette anfordern").click()
        await page.get_by_text("Bitte prüfen Sie die markierten Angaben").wait_for()
        for label, value in (("Behörde oder Empfänger", "Stadt Kitzingen, Hauptamt"),
                             ("Straße und Hausnummer", "Kaiserstraße 13/15"), ("Postleitzahl", "97318"),
                             ("Ort", "Kitzingen"), ("Ansprechperson", "Erika Muster"),
                             ("E-Mail der Ansprechperson", "hauptamt@kitzingen.example.invalid")):
            await page.get_by_label(label, exact=True).fill(value)
        await page.screenshot(path=artifact("plaque-form.png"), full_page=True)
        await page.get_by_role("button", name="Plakette anfordern").click()
        await page.get_by_text("Ihre Angaben sind gespeichert").wait_for()
        assert page.errors == []  # type: ignore[attr-defined]

        awards_rt, awards = await start("awards", build_awards, settings.model_copy(update={"notify_url": base}))
        reviewer = await add_reviewer(awards_rt.pool, "Maria Muster")
        async with serve(awards.app) as console:  # type: ignore[attr-defined]
            await page.goto(f"{console}/console")
            await page.get_by_label("Zugangstoken").fill(reviewer["Authorization"].removeprefix("Bearer "))
            await page.get_by_role("button", name="Anmelden").click()
            await page.get_by_text("1 Plakette wartet auf den Versand").wait_for()
            assert "97318 Kitzingen" in await page.locator("#plaque-rows").inner_text()
            await page.screenshot(path=artifact("console-plaques.png"), full_page=True)
            await page.get_by_label("Versandt am").fill("2026-12-03")
            await page.get_by_role("button", name="Plakette Stadt Kitzingen als versandt markieren").click()
            await page.get_by_text("als versandt vermerkt").wait_for()
            await page.get_by_text("0 Plaketten warten auf den Versand").wait_for()
    assert await pool.fetchval("SELECT shipped_on FROM notify.plaque_request") == date(2026, 12, 3)
