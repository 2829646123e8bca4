"""Eligibility's API over the real database: one authority, the filtered list, refusals."""

from __future__ import annotations

import pytest

from harness.builders import linked_event, unlinked_event
from harness.kafka import events_of, produce, read_topic
from services.eligibility.app import build as build_eligibility
from tests.conftest import eventually

LINKS = "portal.procedure-links.v1"
KITZINGEN, WUERZBURG, OBERBAYERN = "09675141", "09663000", "091"


@pytest.fixture(scope="module")
async def eligibility(module_start, module_settings):
    """One eligibility for the module: every test only reads what these events made of it."""
    start, settings = module_start, module_settings
    events = [linked_event(KITZINGEN, f"k-{i}", minute=i) for i in range(52)]
    events += [linked_event(KITZINGEN, "info", kind="information"), linked_event(KITZINGEN, "print", kind="print_form")]
    events += [linked_event(WUERZBURG, f"w-{i}") for i in range(10)]
    events += [linked_event(OBERBAYERN, f"o-{i}", scope="central") for i in range(30)]
    events += [linked_event(OBERBAYERN, f"x-{i}", scope="federal") for i in range(5)]
    events += [unlinked_event(KITZINGEN, "k-0", minute=100)]
    await produce(settings, LINKS, [(e.authority_id, e.to_json()) for e in events])
    _, client = await start("eligibility", build_eligibility)

    async def done() -> bool:
        return (await client.get(f"/v1/authorities/{KITZINGEN}")).json()["count"] == 51

    await eventually(done)
    return client


async def test_one_authority_with_its_linked_procedures(eligibility) -> None:
    view = (await eligibility.get(f"/v1/authorities/{KITZINGEN}")).json()
    assert {k: view[k] for k in ("authority_id", "name", "kind", "count", "threshold", "eligible")} == {
        "authority_id": KITZINGEN, "name": "Kitzingen", "kind": "stadt", "count": 51, "threshold": 50, "eligible": True
    }
    ids = [p["id"] for p in view["procedures"]]
    assert len(ids) == 53 and "k-0" not in ids and {"info", "print"} <= set(ids)
    info = next(p for p in view["procedures"] if p["id"] == "info")
    assert info["counted"] is False and info["kind"] == "information"
    assert set(view["procedures"][0]) >= {"id", "name", "scope", "linked_at"}


async def test_a_bezirk_counts_central_procedures_and_crosses_at_thirty(eligibility, module_settings) -> None:
    view = (await eligibility.get(f"/v1/authorities/{OBERBAYERN}")).json()
    assert (view["kind"], view["count"], view["threshold"], view["eligible"]) == ("bezirk", 30, 30, True)
    crossings = events_of(await read_topic(module_settings, "eligibility.thresholds.v1", at_least=2))
    assert sorted((e["authority_id"], e["event_type"], e["count"], e["threshold"]) for e in crossings) == [
        (OBERBAYERN, "ThresholdCrossed", 30, 30),
        (KITZINGEN, "ThresholdCrossed", 50, 50),
    ]


async def test_an_authority_without_links_has_count_zero(eligibility) -> None:
    view = (await eligibility.get("/v1/authorities/096755616")).json()
    assert (view["name"], view["kind"], view["count"], view["eligible"], view["procedures"]) == (
        "Iphofen", "verwaltungsgemeinschaft", 0, False, []
    )


async def test_unknown_key_is_404(eligibility) -> None:
    response = await eligibility.get("/v1/authorities/12345678")
    assert response.status_code == 404
    assert "12345678" in response.json()["detail"]


async def test_the_list_filters_and_pages(eligibility) -> None:
    eligible = (await eligibility.get("/v1/authorities", params={"eligible": "true"})).json()
    assert eligible["total"] == 2
    assert [i["authority_id"] for i in eligible["items"]] == [KITZINGEN, OBERBAYERN]
    assert "procedures" not in eligible["items"][0]

    some = (await eligibility.get("/v1/authorities", params={"min_count": 10})).json()
    assert [i["authority_id"] for i in some["items"]] == [KITZINGEN, OBERBAYERN, WUERZBURG]

    unterfranken = (await eligibility.get("/v1/authorities", params={"min_count": 1, "region": "Unterfranken"})).json()
    assert [i["authority_id"] for i in unterfranken["items"]] == [KITZINGEN, WUERZBURG]
    by_key = (await eligibility.get("/v1/authorities", params={"min_count": 1, "region": "096"})).json()
    assert by_key == unterfranken

    not_eligible = (await eligibility.get("/v1/authorities", params={"eligible": "false", "limit": 5, "offset": 1})).json()
    assert not_eligible["total"] == 2445 - 2
    assert len(not_eligible["items"]) == 5
    assert not_eligible["items"][0]["authority_id"] != WUERZBURG


@pytest.mark.parametrize(
    "params",
    [{"eligible": "maybe"}, {"min_count": -1}, {"limit": 0}, {"limit": 5001}, {"offset": -5}, {"region": "Atlantis"}],
)
async def test_bad_parameters_are_422(eligibility, params) -> None:
    response = await eligibility.get("/v1/authorities", params=params)
    assert response.status_code == 422
