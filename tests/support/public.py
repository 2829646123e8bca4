"""A public site with something to show: eligibility with counts (served on a real port) and notify asking it,
one holder (Bezirk Unterfranken), one authority under review (Stadt Würzburg), Stadt Kitzingen below its threshold
with peers in its Landkreis that count more."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from harness.builders import linked_event
from harness.kafka import produce
from harness.serve import served
from services.eligibility.app import build as build_eligibility
from services.notify.app import build as build_notify
from shared.events import AwardGranted, CaseOpened
from tests.conftest import eventually

KITZINGEN, WUERZBURG, UNTERFRANKEN, LK = "09675141", "09663000", "096", "09675"
PEERS = {"09675111": ["p-a", "p-b"], "09675112": ["p-a", "p-b"], "09675113": ["p-a"], "09675114": ["p-a"]}


@contextlib.asynccontextmanager
async def public_site(start: Any, settings: Any) -> AsyncIterator[Any]:
    _, eligibility = await start("eligibility", build_eligibility)
    links = [linked_event(a, p, name=f"Verfahren {p}") for a, ps in PEERS.items() for p in ps]
    links += [linked_event(KITZINGEN, f"k-{i}", name=f"Kitzinger Verfahren {i}") for i in range(3)]
    links += [linked_event(KITZINGEN, "k-info", name="Öffnungszeiten", kind="information"),
              linked_event(KITZINGEN, "k-bund", name="Bundesantrag", scope="federal")]
    links += [linked_event(UNTERFRANKEN, f"b-{i}", scope="central") for i in range(31)]
    await produce(settings, "portal.procedure-links.v1", [(e.authority_id, e.to_json()) for e in links])

    async def counted() -> bool:
        return (await eligibility.get(f"/v1/authorities/{UNTERFRANKEN}")).json()["count"] == 31

    await eventually(counted)
    async with served(eligibility.app) as url:  # type: ignore[attr-defined]
        _, notify = await start("notify", build_notify, settings.model_copy(update={"eligibility_url": url}))
        events = [
            AwardGranted(authority_id=UNTERFRANKEN, correlation_id="t", case_id=uuid.uuid4(), award_number="DA-2026-00001",
                         awarded_at=date(2026, 10, 1), reviewer="alice"),
            CaseOpened(authority_id=WUERZBURG, correlation_id="t", case_id=uuid.uuid4(), kind="award", count=50),
        ]
        await produce(settings, "awards.cases.v1", [(e.authority_id, e.to_json()) for e in events])

        async def listed() -> bool:
            return len((await notify.get("/v1/listing.json")).json()["items"]) == 1

        await eventually(listed)
        yield notify


