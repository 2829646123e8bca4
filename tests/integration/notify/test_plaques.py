"""The plaque: a personal link in the congratulation email, a German form (no JavaScript), changes until shipped,
the reviewers' list (through awards) and the email when it ships; a revoked award's link no longer works."""

from __future__ import annotations

import uuid
from datetime import date

from harness.kafka import produce
from harness.serve import served
from harness.smtp import body, smtp_server
from services.awards.app import build as build_awards
from services.notify.app import build as build_notify
from shared.events import AwardGranted, AwardRevoked
from tests.conftest import ADMIN, eventually
from tests.support.awards import add_reviewer

KITZINGEN = "09675141"
ADDRESS = {"recipient": "Stadt Kitzingen, Hauptamt", "street": "Kaiserstraße 13/15", "postal_code": "97318",
           "city": "Kitzingen", "contact_name": "Erika Muster", "contact_email": "hauptamt@kitzingen.example.invalid",
           "contact_phone": "09321 20-0"}


async def _granted(settings, number: str = "DA-2026-00001") -> None:  # noqa: ANN001
    event = AwardGranted(authority_id=KITZINGEN, correlation_id="t", case_id=uuid.uuid4(), award_number=number,
                         awarded_at=date(2026, 11, 26), reviewer="alice")
    await produce(settings, "awards.cases.v1", [(KITZINGEN, event.to_json())])


async def _token(pool) -> str:  # noqa: ANN001
    async def issued() -> str:
        return await pool.fetchval("SELECT payload->>'plaque_token' FROM notify.notification "
                                   "WHERE event_type = 'AwardGranted'") or ""

    return await eventually(issued)


async def refuses_a_bad_address(notify, pool, token: str) -> None:  # noqa: ANN001
    bad = await notify.post(f"/plakette/{token}", data={**ADDRESS, "postal_code": "9731", "contact_email": "x@",
                                                         "city": " "})
    assert bad.status_code == 422
    for message in ("Postleitzahl: bitte fünf Ziffern.", "Ort: bitte angeben.",
                    "E-Mail der Ansprechperson: bitte eine gültige Adresse angeben."):
        assert message in bad.text
    assert 'aria-invalid="true"' in bad.text
    assert await pool.fetchval("SELECT requested_at FROM notify.plaque_request") is None, "nothing stored"


async def test_a_plaque_from_request_to_shipped(start, start_notify, settings, pool) -> None:
    with smtp_server() as (sink, port):
        rt, notify = await start_notify(smtp_port=port)
        await pool.execute("INSERT INTO notify.contact (authority_id, email) VALUES ($1, 'rathaus@kitzingen.example.invalid')",
                           KITZINGEN)
        await _granted(settings)
        token = await _token(pool)

        async def congratulated() -> str:
            assert len(sink.messages) == 1, sink.messages  # (an unpacking error would end the wait at once)
            return body(sink.messages[0], "plain")

        assert f"https://digitales-amt.example/plakette/{token}" in await eventually(congratulated)
        assert await pool.fetchval("SELECT token_hash FROM notify.plaque_request") != token, "only a hash is kept"

        form = await notify.get(f"/plakette/{token}")
        assert form.status_code == 200 and "Plakette „Digitales Amt“ für die Stadt Kitzingen" in form.text
        assert 'label for="postal_code">Postleitzahl' in form.text
        await refuses_a_bad_address(notify, pool, token)

        saved = await notify.post(f"/plakette/{token}", data={**ADDRESS, "street": "Marktstraße 1"})
        assert saved.status_code == 200 and "Ihre Angaben sind gespeichert" in saved.text
        changed = await notify.post(f"/plakette/{token}", data=ADDRESS)
        assert changed.status_code == 200 and "Kaiserstraße 13/15" in changed.text

        [request] = (await notify.get("/v1/plaques", headers=ADMIN)).json()
        assert request["address_lines"] == ["Stadt Kitzingen, Hauptamt", "Kaiserstraße 13/15", "97318 Kitzingen",
                                            "z. Hd. Erika Muster"]
        assert (await notify.get("/v1/plaques")).status_code == 401

        # the reviewers see and ship it in their console, through awards
        async with served(notify.app) as notify_url:  # type: ignore[attr-defined]
            awards_rt, awards = await start("awards", build_awards, settings.model_copy(update={"notify_url": notify_url}))
            reviewer = await add_reviewer(awards_rt.pool, "alice")
            listed = (await awards.get("/v1/plaques", headers=reviewer)).json()
            assert [p["award_number"] for p in listed] == ["DA-2026-00001"]
            shipped = await awards.post("/v1/plaques/DA-2026-00001/shipped", json={"shipped_on": "2026-12-03"},
                                        headers=reviewer)
            assert shipped.status_code == 200 and shipped.json()["shipped_by"] == "alice"
            again = await awards.post("/v1/plaques/DA-2026-00001/shipped", json={}, headers=reviewer)
            assert again.status_code == 409

        async def shipped_mail() -> str:
            mails = [m for m in sink.messages if m["X-Digitales-Amt-Event"] == "PlaqueShipped"]
            assert len(mails) == 1
            return mails[0]["Subject"] + "\n" + body(mails[0], "plain")

        text = await eventually(shipped_mail)
        assert "„Digitales Amt“: Ihre Plakette ist unterwegs – Stadt Kitzingen" in text
        assert "am 03.12.2026 an folgende Anschrift" in text and "97318 Kitzingen" in text
        late = await notify.post(f"/plakette/{token}", data=ADDRESS)
        assert late.status_code == 409 and "verschickt worden" in late.text
        assert "Verschickt am 03.12.2026" in (await notify.get(f"/plakette/{token}")).text


async def test_a_revoked_awards_plaque_link_no_longer_works(start, settings, pool) -> None:
    _, notify = await start("notify", build_notify)
    await _granted(settings, "DA-2026-00009")
    token = await _token(pool)
    assert (await notify.get(f"/plakette/{token}")).status_code == 200
    revoked = AwardRevoked(authority_id=KITZINGEN, correlation_id="t", case_id=uuid.uuid4(),
                           award_number="DA-2026-00009", reason="zu wenige", reviewer="bob")
    await produce(settings, "awards.cases.v1", [(KITZINGEN, revoked.to_json())])

    async def gone() -> bool:
        r = await notify.get(f"/plakette/{token}")
        assert r.status_code == 410, r.status_code
        return "gilt nicht mehr" in r.text

    assert await eventually(gone)
    assert (await notify.post(f"/plakette/{token}", data=ADDRESS)).status_code == 410
