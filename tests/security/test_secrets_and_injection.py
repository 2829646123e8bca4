"""Secrets never reach the logs; injection attempts through parameters change nothing."""

from __future__ import annotations

import uuid

from pydantic import SecretStr

from harness.builders import change
from harness.kafka import produce
from services.awards.app import build as build_awards
from services.eligibility.app import build as build_eligibility
from services.ingest.app import build as build_ingest
from shared.events import CaseOpened
from shared.logging import configure_logging
from tests.conftest import FEED_SECRET, eventually, signed
from tests.support.awards import add_reviewer, cases_of, crossed, send

INJECTIONS = ["' OR '1'='1", "09675141'; DROP TABLE eligibility.authority_count; --", "%27%20OR%201=1", "\\x27"]


async def test_tokens_and_feed_secret_stay_out_of_the_logs(start, capfd) -> None:
    rt, awards = await start("awards", build_awards)
    _, ingest = await start("ingest", build_ingest)
    headers = await add_reviewer(rt.pool, "alice")
    token = headers["Authorization"].removeprefix("Bearer ")
    await awards.get("/v1/cases", headers=headers)
    await awards.get("/v1/cases", headers={"Authorization": "Bearer wrong-token-value"})
    await ingest.post("/v1/portal/changes", **signed({"changes": [change("09675141", "p")]}))
    await ingest.post("/v1/portal/changes", **signed({"changes": []}, secret="bad-secret-value"))
    logs = capfd.readouterr()
    for secret in (token, FEED_SECRET, "wrong-token-value", "bad-secret-value"):
        assert secret not in logs.err and secret not in logs.out


async def test_injection_attempts_change_nothing(start, pool) -> None:
    rt, awards = await start("awards", build_awards)
    _, eligibility = await start("eligibility", build_eligibility)
    headers = await add_reviewer(rt.pool, "alice")
    before = await pool.fetchval("SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('awards', 'eligibility')")
    for attempt in INJECTIONS:
        assert (await eligibility.get(f"/v1/authorities/{attempt}")).status_code == 404
        assert (await eligibility.get("/v1/authorities", params={"region": attempt})).status_code == 422
        page = (await awards.get("/v1/cases", params={"authority_id": attempt[:20]}, headers=headers)).json()
        assert page == {"items": [], "total": 0}
        assert (await awards.post(f"/v1/cases/{attempt}/claim", headers=headers)).status_code in {404, 422}
    after = await pool.fetchval("SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('awards', 'eligibility')")
    assert after == before


HOSTILE = "Robert'); DROP TABLE awards.review_case; -- \\x27 ' OR 1=1 -- ; $1 %s {0} <b>ü</b>"


async def test_text_reaches_sql_as_data_and_is_stored_byte_for_byte(start, pool, settings) -> None:
    _, ingest = await start("ingest", build_ingest)
    _, eligibility = await start("eligibility", build_eligibility)
    rt, awards = await start("awards", build_awards)
    body = {"changes": [change("09675141", "p-hostile", name=HOSTILE)]}
    assert (await ingest.post("/v1/portal/changes", **signed(body))).status_code == 202

    async def stored_name() -> str:
        procedures = (await eligibility.get("/v1/authorities/09675141")).json()["procedures"]
        return procedures[0]["name"] if procedures else ""

    assert await eventually(stored_name) == HOSTILE
    assert await pool.fetchval("SELECT procedure->>'name' FROM ingest.link_state") == HOSTILE

    from services.awards import repository
    from services.awards.auth import new_token, token_hash

    token = new_token()
    assert await repository.add_reviewer(rt.pool, HOSTILE[:100], token_hash(token))
    headers = {"Authorization": f"Bearer {token}"}
    assert (await awards.get("/v1/me", headers=headers)).json()["name"] == HOSTILE[:100]
    await send(settings, crossed("09675141"))
    [case] = await cases_of(awards, headers, "09675141")
    await awards.post(f"/v1/cases/{case['case_id']}/claim", headers=headers)
    rejected = await awards.post(f"/v1/cases/{case['case_id']}/decision", headers=headers,
                                 json={"decision": "reject", "reason": HOSTILE})
    assert rejected.status_code == 200 and rejected.json()["reason"] == HOSTILE
    assert await pool.fetchval("SELECT reason FROM awards.review_case") == HOSTILE
    for q in (HOSTILE, "%", "_", "\\\\"):
        r = await awards.get("/v1/cases", params={"q": q[:100]}, headers=headers)
        assert r.status_code == 200 and r.json()["total"] == 0, q
    assert await pool.fetchval("SELECT count(*) FROM awards.review_case") == 1


def test_a_contact_address_with_quotes_is_kept_as_given() -> None:
    from services.notify.contacts import parse_contacts
    from shared.authorities import registry

    address = "o'brien+rathaus%test@example.invalid"
    contacts, errors = parse_contacts(f"authority_id,email\n09675141,{address}\n", registry())
    assert errors == [] and contacts == [("09675141", address)]


async def test_no_secret_password_token_or_full_address_reaches_the_logs(start, settings, capfd) -> None:
    from harness.smtp import smtp_server
    from services.notify import repository as notify_repository
    from services.notify.app import build as build_notify

    db_password = "db-password-9f8e7d"
    url = settings.database_url.replace("postgres@", f"postgres:{db_password}@")  # trust auth ignores it
    secrets = {"smtp_password": "smtp-password-3c2b1a", "pvog_client_secret": "pvog-secret-5a6b7c",
               "admin_token": "admin-token-1a2b3c4d5e"}
    with smtp_server() as (sink, port):
        sink.permanent["poststelle.kitzingen@example.invalid"] = (
            "550 5.1.1 <poststelle.kitzingen@example.invalid>: Mailbox unknown")
        own = settings.model_copy(update={"database_url": url, "smtp_port": port,
                                          **{k: SecretStr(v) for k, v in secrets.items()}})
        configure_logging("tests", "INFO", json=True, secrets=own.secrets())
        rt, notify = await start("notify", build_notify, own)
        async with rt.pool.acquire() as conn:
            await notify_repository.upsert_contacts(conn, [("09675141", "poststelle.kitzingen@example.invalid")])
        await produce(settings, "awards.cases.v1", [("09675141", CaseOpened(
            authority_id="09675141", correlation_id="t", case_id=uuid.uuid4(), kind="award", count=50).to_json())])

        async def failed() -> list:
            return (await notify.get("/v1/notifications", params={"status": "failed"},
                                     headers={"Authorization": f"Bearer {secrets['admin_token']}"})).json()["items"]

        await eventually(failed)
        await notify.get("/v1/notifications", headers={"Authorization": "Bearer admin-token-1a2b3c4d5e-wrong"})
    logs = capfd.readouterr()
    text = logs.err + logs.out
    assert "p***@example.invalid" in text, "the failure was logged, with the address shortened"
    for secret in [db_password, *secrets.values(), "poststelle.kitzingen@example.invalid"]:
        assert secret not in text, secret


async def test_a_flood_of_bad_signatures_is_refused_and_logged_once(start, capfd) -> None:
    _, ingest = await start("ingest", build_ingest)
    capfd.readouterr()
    for _ in range(1_000):
        r = await ingest.post("/v1/portal/changes", **signed({"changes": []}, secret="not-the-feed-secret"))
        assert r.status_code == 401
    good = await ingest.post("/v1/portal/changes", **signed({"changes": [change("09675141", "p")]}))
    assert good.status_code == 202
    logged = [line for line in capfd.readouterr().err.splitlines() if '"feed_refused"' in line]
    assert len(logged) <= 1, f"{len(logged)} log lines for 1,000 refusals"
