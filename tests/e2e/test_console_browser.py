"""The reviewer console in a real headless browser: log in, claim, approve, see it decided."""

from __future__ import annotations

from harness.kafka import events_of, produce, read_topic
from services.awards.app import build as build_awards
from shared.authorities import registry
from tests.conftest import eventually
from tests.support.awards import add_reviewer, crossed
from tests.support.browser import artifact, browser_page, serve


async def test_a_reviewer_claims_and_approves_in_the_console(start, settings) -> None:
    rt, client = await start("awards", build_awards)
    headers = await add_reviewer(rt.pool, "Maria Muster")
    token = headers["Authorization"].removeprefix("Bearer ")
    await produce(settings, "eligibility.thresholds.v1", [("09675141", crossed("09675141", count=53).to_json())])

    async def opened() -> bool:
        return (await client.get("/v1/cases", headers=headers)).json()["total"] == 1

    await eventually(opened)
    async with serve(client.app) as base, browser_page() as page:  # type: ignore[attr-defined]
        await page.goto(f"{base}/console")
        await page.get_by_label("Zugangstoken").fill("falsch")
        await page.get_by_role("button", name="Anmelden").click()
        await page.get_by_text("Token ungültig").wait_for()

        await page.get_by_label("Zugangstoken").fill(token)
        await page.get_by_role("button", name="Anmelden").click()
        await page.get_by_text("Angemeldet: Maria Muster").wait_for()
        row = page.get_by_role("row").filter(has_text="Kitzingen")
        await row.get_by_text("offen").wait_for()
        assert "53 / 50" in await row.inner_text()
        await page.screenshot(path=artifact("console-queue.png"), full_page=True)

        await row.get_by_role("button", name="Fall Stadt Kitzingen öffnen").click()
        await page.get_by_role("heading", name="Verleihung: Stadt Kitzingen").wait_for()
        await page.get_by_role("button", name="Fall übernehmen").click()
        await page.get_by_text("Fall übernommen.").wait_for()
        await page.get_by_label("Genehmigen").check()
        await page.get_by_role("button", name="Entscheidung speichern").press("Enter")
        await page.get_by_text("Entscheidung gespeichert: genehmigt.").wait_for()
        facts = await page.locator("#case-facts").inner_text()
        assert "entschieden" in facts and "genehmigt" in facts
        history = await page.locator("#history").inner_text()
        assert "übernommen" in history and "Maria Muster" in history
        await page.screenshot(path=artifact("console-decided.png"), full_page=True)
        assert page.errors == []  # type: ignore[attr-defined]

    granted = [e for e in events_of(await read_topic(settings, "awards.cases.v1", at_least=2)) if e["event_type"] == "AwardGranted"]
    assert [(g["authority_id"], g["reviewer"]) for g in granted] == [("09675141", "Maria Muster")]


async def test_a_hostile_reason_is_shown_as_text(start, settings) -> None:
    rt, client = await start("awards", build_awards)
    headers = await add_reviewer(rt.pool, "Rev")
    await produce(settings, "eligibility.thresholds.v1", [("096", crossed("096", count=30, threshold=30).to_json())])

    async def case_id() -> str:
        items = (await client.get("/v1/cases", headers=headers)).json()["items"]
        return items[0]["case_id"] if items else ""

    cid = await eventually(case_id)
    await client.post(f"/v1/cases/{cid}/claim", headers=headers)
    hostile = '<img src=x onerror="document.body.dataset.pwned=1"><script>document.body.dataset.pwned=1</script>'
    await client.post(f"/v1/cases/{cid}/decision", json={"decision": "reject", "reason": hostile}, headers=headers)
    async with serve(client.app) as base, browser_page() as page:  # type: ignore[attr-defined]
        await page.goto(f"{base}/console")
        await page.get_by_label("Zugangstoken").fill(headers["Authorization"].removeprefix("Bearer "))
        await page.get_by_role("button", name="Anmelden").click()
        await page.get_by_label("Status").select_option("decided")
        await page.get_by_role("button", name="Anzeigen", exact=True).click()
        await page.get_by_role("button", name="Fall Bezirk Unterfranken öffnen").click()
        await page.get_by_text(hostile).first.wait_for()
        assert await page.evaluate("document.body.dataset.pwned") is None
        assert await page.locator("#history img").count() == 0


async def hand_over_a_case(page) -> None:  # noqa: ANN001
    """Find a case by the authority's name, assign it to Ben, take it back: each step in its history."""
    await page.get_by_label("Behörde (Name oder Schlüssel)").fill("Stadt Kitzingen")
    await page.get_by_role("button", name="Anzeigen", exact=True).click()
    await page.get_by_text("1 Fall", exact=True).wait_for()
    await page.get_by_role("button", name="Fall Stadt Kitzingen öffnen").click()
    await page.get_by_role("heading", name="Verleihung: Stadt Kitzingen").wait_for()
    assert "noch nicht erfasst" in await page.locator("#evidence-opening").inner_text()
    await page.get_by_label("Zuweisen an").select_option("Ben")
    await page.get_by_role("button", name="Zuweisen", exact=True).click()
    await page.get_by_text("Fall an Ben zugewiesen.").wait_for()
    assert "in Bearbeitung – Ben" in await page.locator("#case-facts").inner_text()
    await page.get_by_role("button", name="Fall zurückgeben").click()
    await page.get_by_text("Fall zurück in der Warteschlange.").wait_for()
    history = await page.locator("#history").inner_text()
    assert "zugewiesen" in history and "an Ben" in history and "zurückgegeben" in history
    await page.screenshot(path=artifact("console-case-handover.png"), full_page=True)


async def test_a_lead_pages_searches_assigns_releases_and_opens_a_new_review(start, settings) -> None:
    rt, client = await start("awards", build_awards)
    lead = await add_reviewer(rt.pool, "Leitung Lang", lead=True)
    anna = await add_reviewer(rt.pool, "Anna")
    await add_reviewer(rt.pool, "Ben")
    keys = [a.key for a in registry() if a.kind == "gemeinde"][:29] + ["09675141"]
    await produce(settings, "eligibility.thresholds.v1", [(k, crossed(k, count=55).to_json()) for k in keys])

    async def all_open() -> list[dict]:
        page = (await client.get("/v1/cases", params={"limit": 100}, headers=lead)).json()
        assert page["total"] == 30
        return page["items"]

    items = await eventually(all_open)
    kitzingen = next(c for c in items if c["authority_id"] == "09675141")
    await client.post(f"/v1/cases/{kitzingen['case_id']}/claim", headers=anna)
    rejected = next(c for c in items if c["authority_id"] == keys[0])
    await client.post(f"/v1/cases/{rejected['case_id']}/claim", headers=anna)
    await client.post(f"/v1/cases/{rejected['case_id']}/decision", json={"decision": "reject", "reason": "zu früh"},
                      headers=anna)
    async with serve(client.app) as base, browser_page() as page:  # type: ignore[attr-defined]
        await page.goto(f"{base}/console")
        await page.get_by_label("Zugangstoken").fill(lead["Authorization"].removeprefix("Bearer "))
        await page.get_by_role("button", name="Anmelden").click()
        await page.get_by_text("Angemeldet: Leitung Lang (Leitung)").wait_for()
        await page.get_by_label("Status").select_option("")
        await page.get_by_role("button", name="Anzeigen", exact=True).click()
        await page.get_by_text("30 Fälle, angezeigt 1–25").wait_for()
        await page.get_by_role("button", name="Nächste Seite").click()
        await page.get_by_text("Seite 2 von 2").wait_for()
        assert await page.locator("#cases tr").count() == 5
        team = await page.locator("#reviewers").inner_text()
        assert "Anna" in team and "1" in team
        await page.screenshot(path=artifact("console-lead-queue.png"), full_page=True)

        await hand_over_a_case(page)

        await page.get_by_role("button", name="Zurück zur Liste").click()
        await page.get_by_label("Schlüssel der Behörde").fill("09675141")
        await page.get_by_role("button", name="Prüfung eröffnen").click()
        await page.get_by_text("Für diese Behörde ist bereits eine Prüfung offen.").wait_for()
        await page.get_by_label("Schlüssel der Behörde").fill(keys[0])
        await page.get_by_role("button", name="Prüfung eröffnen").click()
        await page.get_by_text("Neue Prüfung eröffnet.").wait_for()
        await page.get_by_role("heading", name=f"Verleihung: {registry().get(keys[0]).display_name}").wait_for()  # type: ignore[union-attr]
        await page.screenshot(path=artifact("console-new-review.png"), full_page=True)
        assert page.errors == []  # type: ignore[attr-defined]
