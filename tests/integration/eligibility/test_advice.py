"""Advice on what to link next: what comparable authorities count and this one does not, ranked by how many of them
link it, at the narrowest level that has enough to say (Landkreis, then Regierungsbezirk, then Bavaria)."""

from __future__ import annotations

from harness.builders import linked_event
from harness.kafka import produce
from services.eligibility.app import build as build_eligibility
from shared.authorities import registry
from tests.conftest import eventually

KITZINGEN = "09675141"  # Stadt Kitzingen, in the Landkreis Kitzingen
PEERS = {"09675111": ["p-a", "p-b", "p-c", "p-d"], "09675112": ["p-a", "p-b", "p-c"],
         "09675113": ["p-a", "p-b"], "09675114": ["p-a"]}
MUNICIPAL = ("gemeinde", "markt", "stadt")


async def test_advice_ranks_what_peers_count_and_this_authority_does_not(start, settings) -> None:
    _, eligibility = await start("eligibility", build_eligibility)
    events = [linked_event(a, p, name=f"Verfahren {p}") for a, ps in PEERS.items() for p in ps]
    events += [linked_event("09675114", "p-info", kind="information"), linked_event(KITZINGEN, "p-c")]
    await produce(settings, "portal.procedure-links.v1", [(e.authority_id, e.to_json()) for e in events])

    async def applied() -> bool:
        r = await eligibility.get(f"/v1/authorities/{KITZINGEN}")
        return r.json()["count"] == 1 and (await eligibility.get("/v1/authorities/09675111")).json()["count"] == 4

    await eventually(applied)
    district = (await eligibility.get(f"/v1/authorities/{KITZINGEN}/advice", params={"limit": 3})).json()
    in_landkreis = [a for a in registry() if a.district == "Kitzingen" and a.kind in MUNICIPAL and a.key != KITZINGEN]
    assert (district["level"], district["area"], district["peer_group"], district["peers"]) == (
        "district", "Kitzingen", "municipality", len(in_landkreis))
    assert [(i["id"], i["peers_linking"]) for i in district["items"]] == [("p-a", 4), ("p-b", 3), ("p-d", 1)]
    assert district["items"][0]["name"] == "Verfahren p-a"

    wider = (await eligibility.get(f"/v1/authorities/{KITZINGEN}/advice")).json()  # 10 wanted: not found nearer
    assert wider["level"] == "state" and wider["area"] == "Bayern"
    assert wider["peers"] == sum(1 for a in registry() if a.kind in MUNICIPAL) - 1
    assert [i["id"] for i in wider["items"]] == ["p-a", "p-b", "p-d"]
    landkreis = (await eligibility.get("/v1/authorities/09675/advice")).json()
    assert landkreis["peer_group"] == "landkreis" and landkreis["level"] in ("region", "state")
    assert (await eligibility.get("/v1/authorities/09999999/advice")).status_code == 404
