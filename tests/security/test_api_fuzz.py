"""Every HTTP API fuzzed from its own OpenAPI document (schemathesis): no 5xx, no unhandled error in the logs."""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from services.awards.app import build as build_awards
from services.eligibility.app import build as build_eligibility
from services.ingest.app import build as build_ingest
from services.notify.app import build as build_notify
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
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")

        check()
    return failures


@pytest.mark.parametrize("service", list(BUILDS))
async def test_no_input_makes_a_server_error(service: str, start, capfd) -> None:
    rt, client = await start(service, BUILDS[service])
    headers = await add_reviewer(rt.pool, "fuzzer") if service == "awards" else {}
    app = client._transport.app  # type: ignore[attr-defined]
    async with serve(app) as base:
        failures = await asyncio.to_thread(fuzz_all, app, base, headers, 40)
    assert failures == []
    logs = capfd.readouterr().err
    assert "Exception in ASGI application" not in logs and "Traceback" not in logs
