"""An email notify could not deliver, as reviewers see it: an entry in the history of the case it was about."""

from __future__ import annotations

import uuid

from harness.kafka import produce
from shared.events import NotificationUndeliverable
from tests.conftest import eventually
from tests.support.awards import cases_of, crossed, send

KITZINGEN, WUERZBURG = "09675141", "09663000"


def undeliverable(authority_id: str, case_id: uuid.UUID | str | None, kind: str = "CaseOpened") -> NotificationUndeliverable:
    return NotificationUndeliverable(
        authority_id=authority_id, correlation_id="t", notification_id=uuid.uuid4(), notification_type=kind,
        case_id=case_id, attempts=1, error="550 5.1.1 Mailbox unknown",
    )


async def told(settings, *events: NotificationUndeliverable) -> None:  # noqa: ANN001
    await produce(settings, "notify.notifications.v1", [(e.authority_id, e.to_json()) for e in events])


async def noted(awards, headers, case_id: str, n: int = 1) -> list[dict]:  # noqa: ANN001
    async def entries() -> list[dict]:
        history = (await awards.get(f"/v1/cases/{case_id}", headers=headers)).json()["history"]
        found = [a for a in history if a["action"] == "mail_undeliverable"]
        assert len(found) >= n, history
        return found

    return await eventually(entries)


async def test_an_undeliverable_email_is_in_its_cases_history_once(awards, alice, settings) -> None:
    await send(settings, crossed(KITZINGEN))
    [case] = await cases_of(awards, alice, KITZINGEN)
    event = undeliverable(KITZINGEN, case["case_id"])
    await told(settings, event, event)  # delivered twice: noted once
    [entry] = await noted(awards, alice, case["case_id"])
    assert entry["actor"] == "notify"
    assert entry["reason"] == "E-Mail „CaseOpened“ nicht zugestellt (1 Versuche): 550 5.1.1 Mailbox unknown"

    await told(settings, undeliverable(KITZINGEN, case["case_id"], "AwardRejected"))  # a later one, after it
    assert len(await noted(awards, alice, case["case_id"], n=2)) == 2


async def test_an_email_without_a_case_goes_to_the_authoritys_latest_case_and_none_is_skipped(awards, alice, settings) -> None:
    await send(settings, crossed(KITZINGEN))
    [case] = await cases_of(awards, alice, KITZINGEN)
    # an authority without any case (an imported holder's plaque email), then a grace-period email without a case id
    await told(settings, undeliverable(WUERZBURG, None, "PlaqueShipped"), undeliverable(KITZINGEN, None, "GracePeriodStarted"))
    [entry] = await noted(awards, alice, case["case_id"])
    assert "GracePeriodStarted" in entry["reason"]
    assert (await awards.get("/v1/cases", params={"authority_id": WUERZBURG}, headers=alice)).json()["total"] == 0
