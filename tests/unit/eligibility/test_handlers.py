"""Eligibility's batch handler over an in-memory link store and outbox: its story in milliseconds.

The same handler against PostgreSQL and the broker: tests/integration/eligibility/."""

from __future__ import annotations

import pytest

from harness.builders import linked_event, unlinked_event
from services.eligibility.handlers import on_procedure_links
from shared.events import ThresholdCrossed, ThresholdLost
from shared.settings import Settings
from tests.fakes.eligibility import Links
from tests.fakes.outbox import Outbox

KITZINGEN, UNTERFRANKEN = "09675141", "096"  # a Stadt (threshold 50) and a Bezirk (30)


@pytest.fixture
def store() -> Links:
    return Links()


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def handle(store: Links, outbox: Outbox):  # noqa: ANN201
    return on_procedure_links(Settings(_env_file=None), store=store, publish=outbox)


async def test_the_fiftieth_counted_link_announces_the_crossing_once(handle, store, outbox) -> None:
    await handle(None, [linked_event(KITZINGEN, f"p-{i}") for i in range(49)])
    assert outbox.events == [] and store.counted(KITZINGEN) == 49
    await handle(None, [linked_event(KITZINGEN, "p-49"), linked_event(KITZINGEN, "p-50")])
    [crossed] = outbox.events
    assert isinstance(crossed, ThresholdCrossed)
    assert (crossed.authority_id, crossed.count, crossed.threshold, crossed.sequence) == (KITZINGEN, 50, 50, 1)


async def test_a_bezirk_needs_thirty(handle, outbox) -> None:
    await handle(None, [linked_event(UNTERFRANKEN, f"p-{i}") for i in range(30)])
    assert [(e.event_type, e.threshold) for e in outbox.events] == [("ThresholdCrossed", 30)]


async def test_links_that_do_not_count_are_kept_but_not_counted(handle, store, outbox) -> None:
    await handle(None, [linked_event(KITZINGEN, f"info-{i}", kind="information") for i in range(60)])
    assert len(store.links) == 60 and store.counted(KITZINGEN) == 0 and outbox.events == []


async def test_a_replayed_batch_changes_and_announces_nothing(handle, store, outbox) -> None:
    batch = [linked_event(KITZINGEN, f"p-{i}") for i in range(50)]
    await handle(None, batch)
    before = (dict(store.links), {a: (s.count, s.announced) for a, s in store.standings.items()})
    await handle(None, batch)
    assert (dict(store.links), {a: (s.count, s.announced) for a, s in store.standings.items()}) == before
    assert outbox.types() == ["ThresholdCrossed"]


async def test_crossing_and_falling_back_in_one_batch_announces_both_in_order(handle, outbox) -> None:
    batch = [linked_event(KITZINGEN, f"p-{i}") for i in range(50)] + [unlinked_event(KITZINGEN, "p-0", minute=1)]
    await handle(None, batch)
    assert outbox.types() == ["ThresholdCrossed", "ThresholdLost"]
    lost = outbox.events[1]
    assert isinstance(lost, ThresholdLost) and (lost.count, lost.sequence) == (49, 2)


async def test_an_unlink_older_than_the_link_is_ignored(handle, store, outbox) -> None:
    await handle(None, [linked_event(KITZINGEN, f"p-{i}", minute=5) for i in range(50)])
    await handle(None, [unlinked_event(KITZINGEN, "p-0", minute=1)])  # arrived late, happened before the link
    assert store.counted(KITZINGEN) == 50 and outbox.types() == ["ThresholdCrossed"]
