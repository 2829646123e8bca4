"""Every HTML page carries a Content-Security-Policy that forbids framing, nosniff and a Referrer-Policy; only the
signet may be embedded elsewhere."""

from __future__ import annotations

import pytest

from services.awards.app import build as build_awards
from services.eligibility.app import build as build_eligibility
from services.ingest.app import build as build_ingest
from services.notify.app import build as build_notify

PAGES = {
    "notify": ["/", "/verify/DA-2026-99999", "/docs", "/asyncapi", "/gibt-es-nicht"],
    "awards": ["/console", "/docs", "/asyncapi"],
    "eligibility": ["/docs", "/asyncapi"],
    "ingest": ["/docs", "/asyncapi"],
}
BUILDS = {"notify": build_notify, "awards": build_awards, "eligibility": build_eligibility, "ingest": build_ingest}


@pytest.mark.parametrize("service", sorted(PAGES))
async def test_every_html_page_forbids_framing_and_sniffing(start, service: str) -> None:
    _, client = await start(service, BUILDS[service])
    for path in PAGES[service]:
        r = await client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
        if r.headers.get("content-type", "").startswith("text/html"):
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
            assert "default-src 'none'" in r.headers["content-security-policy"], path
            assert r.headers["x-frame-options"] == "DENY", path
    api = await client.get("/healthz")
    assert api.headers["x-content-type-options"] == "nosniff" and api.headers["x-frame-options"] == "DENY"


async def test_the_signet_may_be_embedded(start, pool) -> None:
    _, notify = await start("notify", build_notify)
    await pool.execute("INSERT INTO notify.holder (award_number, authority_id, awarded_at, imported) "
                       "VALUES ('DA-2024-00001', '09675141', '2024-05-02', true)")
    svg = await notify.get("/signet/09675141.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "frame-ancestors" not in svg.headers.get("content-security-policy", "")
    assert "x-frame-options" not in svg.headers and svg.headers["x-content-type-options"] == "nosniff"
