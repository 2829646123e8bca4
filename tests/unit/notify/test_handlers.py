"""Notify's batch handler over an in-memory store: what the listing, the open reviews and the mail queue become.

The same handler against PostgreSQL, the broker and an SMTP server: tests/integration/notify/."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from services.notify.handlers import on_case_events
from services.notify.plaque import token_hash
from shared.events import AwardGranted, AwardImported, AwardRejected, AwardRevoked, CaseOpened
from tests.fakes.notify import Cases

KITZINGEN, WUERZBURG = "09675141", "09663000"


@pytest.fixture
def store() -> Cases:
    return Cases()


@pytest.fixture
def handle(store: Cases):  # noqa: ANN201
    return on_case_events(store)


def opened(authority_id: str, case_id: uuid.UUID, kind: str = "award") -> CaseOpened:
    return CaseOpened(authority_id=authority_id, correlation_id="t", case_id=case_id, kind=kind, count=50)


def granted(authority_id: str, case_id: uuid.UUID, number: str = "DA-2026-00001") -> AwardGranted:
    return AwardGranted(authority_id=authority_id, correlation_id="t", case_id=case_id, award_number=number,
                        awarded_at=date(2026, 11, 26), reviewer="alice")


async def test_an_opened_case_shows_the_review_and_queues_one_email(handle, store) -> None:
    case = uuid.uuid4()
    await handle(None, [opened(KITZINGEN, case)])
    assert store.reviews == {KITZINGEN: (case, "award")}
    assert [t for _, t, _ in store.notifications.values()] == ["CaseOpened"]
    assert store.wakes == 1, "the mailer is woken once per batch"


async def test_a_grant_lists_the_holder_ends_the_review_and_sends_a_personal_plaque_link(handle, store) -> None:
    case = uuid.uuid4()
    event = granted(KITZINGEN, case)
    await handle(None, [opened(KITZINGEN, case), event])
    assert store.listed() == {KITZINGEN} and store.reviews == {}
    _, kind, payload = store.notifications[event.event_id]
    assert kind == "AwardGranted"
    assert store.plaques["DA-2026-00001"] == token_hash(payload["plaque_token"]), "only the hash is kept"


async def test_the_same_event_twice_lists_and_mails_once(handle, store) -> None:
    event = granted(KITZINGEN, uuid.uuid4())
    await handle(None, [event])
    await handle(None, [event])
    assert len(store.holders) == 1 and len(store.notifications) == 1


async def test_a_second_current_award_for_one_authority_is_not_listed(handle, store) -> None:
    await handle(None, [granted(KITZINGEN, uuid.uuid4()), granted(KITZINGEN, uuid.uuid4(), "DA-2026-00002")])
    assert list(store.holders) == ["DA-2026-00001"]


async def test_a_revocation_takes_the_holder_off_the_listing(handle, store) -> None:
    await handle(None, [granted(KITZINGEN, uuid.uuid4())])
    await handle(None, [AwardRevoked(authority_id=KITZINGEN, correlation_id="t", case_id=uuid.uuid4(),
                                     award_number="DA-2026-00001", reason="zu wenige", reviewer="bob")])
    assert store.listed() == set()
    assert [t for _, t, _ in store.notifications.values()] == ["AwardGranted", "AwardRevoked"]


async def test_an_imported_holder_is_listed_without_a_congratulation(handle, store) -> None:
    await handle(None, [AwardImported(authority_id=WUERZBURG, correlation_id="t", award_number="DA-2024-00077",
                                      awarded_at=date(2024, 6, 3))])
    assert store.listed() == {WUERZBURG} and store.notifications == {} and store.plaques == {}


async def test_a_rejection_ends_the_review_and_is_mailed(handle, store) -> None:
    case = uuid.uuid4()
    await handle(None, [opened(KITZINGEN, case), AwardRejected(
        authority_id=KITZINGEN, correlation_id="t", case_id=case, reason="zu früh", reviewer="alice",
        rereview_on=date(2027, 2, 24), rereview_after_days=90, threshold=50)])
    assert store.reviews == {} and store.listed() == set()
    assert [t for _, t, _ in store.notifications.values()] == ["CaseOpened", "AwardRejected"]
