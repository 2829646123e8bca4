"""Secrets never reach the logs; injection attempts through parameters change nothing."""

from __future__ import annotations

from services.awards.app import build as build_awards
from services.eligibility.app import build as build_eligibility
from services.ingest.app import build as build_ingest
from tests.conftest import FEED_SECRET, signed
from tests.support.awards import add_reviewer
from tests.support.builders import change

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
