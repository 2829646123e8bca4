"""Every HTTP API fuzzed from its own OpenAPI document (schemathesis): no 5xx, no unhandled error in the logs."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from services.awards.app import build as build_awards
from services.eligibility.app import build as build_eligibility
from services.ingest.app import build as build_ingest
from services.notify.app import build as build_notify
from tests.conftest import sign
from tests.support.awards import add_reviewer
from tests.support.browser import serve

BUILDS = {"ingest": build_ingest, "eligibility": build_eligibility, "awards": build_awards, "notify": build_notify}
SKIP = {"/metrics", "/asyncapi", "/asyncapi.json", "/console"}


def fuzz_all(app, base: str, headers: dict[str, str], examples: int) -> list[str]:  # noqa: ANN001
    schema = schemathesis.openapi.from_dict(app.openapi())
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIP:
            continue

        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy())
        def check(case) -> None:  # noqa: ANN001
            response = case.call(base_url=base, headers=headers, timeout=15)
            documented_outage = response.status_code == 503 and "503" in operation.definition.raw.get("responses", {})
            if response.status_code >= 500 and not documented_outage:  # a dependency away, said so: not a failure
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")

        check()
    return failures


@pytest.mark.parametrize("service", list(BUILDS))
async def test_no_input_makes_a_server_error(service: str, start, capfd) -> None:
    rt, client = await start(service, BUILDS[service])
    headers = await add_reviewer(rt.pool, "fuzzer") if service == "awards" else {}
    app = client.app  # type: ignore[attr-defined]
    async with serve(app) as base:
        failures = await asyncio.to_thread(fuzz_all, app, base, headers, 40)
    assert failures == []
    logs = capfd.readouterr().err
    assert "Exception in ASGI application" not in logs and "Traceback" not in logs


def fuzz_signed_feeds(app, base: str, stored, examples: int) -> list[str]:  # noqa: ANN001
    """Feed operations with bodies that carry a valid signature, so that they reach validation and storage: no 5xx,
    and a refused request (4xx) stores nothing."""
    schema = schemathesis.openapi.from_dict(app.openapi())
    failures: list[str] = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for result in schema.get_all_operations():
            operation = result.ok()
            if not operation.path.startswith("/v1/portal"):
                continue

            @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(operation.as_strategy())
            def check(case) -> None:  # noqa: ANN001
                try:
                    body = json.dumps(case.body).encode()
                except TypeError:  # no body generated for this case
                    body = b""
                before = stored()
                response = http.request(case.method, case.formatted_path, content=body, params=case.query,
                                        headers={"content-type": "application/json", "X-Portal-Signature": sign(body)})
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")
                elif response.status_code >= 400 and stored() != before:
                    failures.append(f"{case.method} {case.formatted_path} -> {response.status_code} but stored something")

            check()
    return failures


async def test_signed_feed_bodies_never_fail_and_a_refusal_writes_nothing(start, pool, capfd) -> None:
    _, client = await start("ingest", build_ingest)
    loop = asyncio.get_running_loop()

    def stored() -> tuple[int, int, int]:
        query = ("SELECT (SELECT count(*) FROM ingest.portal_change), (SELECT count(*) FROM ingest.link_state), "
                 "(SELECT count(*) FROM ingest.outbox)")
        return tuple(asyncio.run_coroutine_threadsafe(pool.fetchrow(query), loop).result(30))

    async with serve(client.app) as base:  # type: ignore[attr-defined]
        failures = await asyncio.to_thread(fuzz_signed_feeds, client.app, base, stored, 150)  # type: ignore[attr-defined]
    assert failures == []
    # what was accepted is whole: every link's change and every event's change were stored
    assert await pool.fetchval(
        "SELECT count(*) FROM ingest.link_state l WHERE NOT EXISTS "
        "(SELECT 1 FROM ingest.portal_change c WHERE c.change_id = l.change_id)"
    ) == 0
    assert "Traceback" not in capfd.readouterr().err
