"""A plaque from the congratulation email to the shipped email, through awards and notify as real processes."""

from __future__ import annotations

import re
import uuid
from datetime import date

import httpx

from harness.kafka import produce
from harness.processes import running
from harness.smtp import body, smtp_server
from shared import db
from shared.events import AwardGranted
from tests.conftest import eventually
from tests.support.awards import add_reviewer

KITZINGEN = "09675"  # Landkreis Kitzingen


async def test_a_plaque_from_the_email_link_to_the_shipped_email(settings, tmp_path) -> None:
    with smtp_server() as (sink, port):
        async with running(["notify"], settings, tmp_path, SMTP_PORT=str(port)) as procs:
            notify_url = procs["notify"].url
            async with running(["awards"], settings, tmp_path, NOTIFY_URL=notify_url) as more:
                conn = await db.connect(settings.database_url, "notify")
                await conn.execute("INSERT INTO contact (authority_id, email) VALUES ($1, 'lra@kitzingen.example.invalid')",
                                   KITZINGEN)
                await conn.close()
                pool = await db.create_pool(settings.database_url, "awards", max_size=2)
                reviewer = await add_reviewer(pool, "Referat D3")
                await pool.close()
                grant = AwardGranted(authority_id=KITZINGEN, correlation_id="t", case_id=uuid.uuid4(),
                                     award_number="DA-2026-00042", awarded_at=date(2026, 11, 26), reviewer="x")
                await produce(settings, "awards.cases.v1", [(KITZINGEN, grant.to_json())])

                async def link() -> str:
                    assert len(sink.messages) == 1
                    mail = sink.messages[0]
                    found = re.search(r"http://\S+/plakette/\S+", body(mail, "plain"))
                    assert found
                    return found.group(0).replace(settings.public_base_url, notify_url)

                form_url = await eventually(link, timeout=60)
                async with httpx.AsyncClient(timeout=30) as http:
                    assert (await http.get(form_url)).status_code == 200
                    saved = await http.post(form_url, data={
                        "recipient": "Landratsamt Kitzingen", "street": "Kaiserstraße 4", "postal_code": "97318",
                        "city": "Kitzingen", "contact_name": "Max Muster", "contact_email": "max@lra.example.invalid"})
                    assert saved.status_code == 200 and "gespeichert" in saved.text
                    awards = more["awards"].url
                    [request] = (await http.get(f"{awards}/v1/plaques", headers=reviewer)).json()
                    assert request["authority_name"] == "Landkreis Kitzingen"
                    shipped = await http.post(f"{awards}/v1/plaques/DA-2026-00042/shipped", json={}, headers=reviewer)
                    assert shipped.status_code == 200, shipped.text

                async def shipped_mail() -> str:
                    assert len(sink.messages) == 2
                    return sink.messages[1]["Subject"]

                assert await eventually(shipped_mail, timeout=60) == (
                    "„Digitales Amt“: Ihre Plakette ist unterwegs – Landkreis Kitzingen")
                assert "Landratsamt Kitzingen" in body(sink.messages[1], "plain")
