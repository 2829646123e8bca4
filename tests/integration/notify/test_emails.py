"""Emails over a real SMTP server (aiosmtpd): every kind, pending until a contact, retries, failures, no doubles."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, date, datetime

import pytest

from harness.infra import free_port
from harness.kafka import events_of, produce, read_topic
from harness.smtp import body, smtp_server
from services.notify import repository
from services.notify.app import build as build_notify
from shared.events import (
    AwardGranted,
    AwardKept,
    AwardRejected,
    AwardRevoked,
    CaseClosed,
    CaseOpened,
    GracePeriodEnded,
    GracePeriodStarted,
)
from tests.conftest import ADMIN, eventually

CASES = "awards.cases.v1"
KITZINGEN, WUERZBURG = "09675141", "09663000"
KT_MAIL, WU_MAIL = "rathaus@kitzingen.example.invalid", "poststelle@wuerzburg.example.invalid"


@pytest.fixture
def smtp():
    with smtp_server() as (sink, port):
        yield sink, port


@pytest.fixture
async def notify(smtp, start_notify):  # smtp first: the service stops before its mail server
    _, port = smtp
    rt, client = await start_notify(smtp_port=port, mail_retry_base_s=0.05)
    client.rt = rt
    return client


async def contacts(notify, *pairs: tuple[str, str]) -> None:
    async with notify.rt.pool.acquire() as conn, conn.transaction():
        await repository.upsert_contacts(conn, list(pairs))
        await repository.wake_mailer(conn)


async def sent_items(notify) -> list:  # noqa: ANN001
    return (await notify.get("/v1/notifications", params={"status": "sent"}, headers=ADMIN)).json()["items"]


async def send(settings, *events) -> None:
    await produce(settings, CASES, [(e.authority_id, e.to_json()) for e in events])


def case_events(authority_id: str) -> list:
    case, rev = uuid.uuid4(), uuid.uuid4()
    common = {"authority_id": authority_id, "correlation_id": "t"}
    return [
        CaseOpened(**common, case_id=case, kind="award", count=51),
        AwardGranted(**common, case_id=case, award_number="DA-2026-00001", awarded_at=date(2026, 11, 26), reviewer="alice"),
        CaseOpened(**common, case_id=rev, kind="revocation", count=48),
        AwardKept(**common, case_id=rev, award_number="DA-2026-00001", reviewer="bob"),
        AwardRevoked(**common, case_id=rev, award_number="DA-2026-00001", reason="Nur noch 48 Verfahren", reviewer="bob"),
        AwardRejected(**common, case_id=case, reason="Verknüpfungen fehlerhaft", reviewer="alice",
                      rereview_on=date(2027, 2, 24), rereview_after_days=90, threshold=50),
        GracePeriodStarted(**common, award_number="DA-2026-00001", deadline=date(2027, 1, 25),
                           deadline_at=datetime(2027, 1, 25, 9, 0, tzinfo=UTC), count=47, threshold=50),
        GracePeriodEnded(**common, award_number="DA-2026-00001", deadline=date(2027, 1, 25), count=50, threshold=50),
        CaseClosed(**common, case_id=rev, kind="revocation", count=51, reason="Schwelle wieder erreicht"),
    ]


async def test_every_kind_of_email_in_german_with_text_and_html(notify, smtp, settings) -> None:
    sink, _ = smtp
    await contacts(notify, (KITZINGEN, KT_MAIL))
    events = case_events(KITZINGEN)
    await send(settings, *events)

    async def all_sent() -> bool:
        return len(sink.messages) == 9

    await eventually(all_sent)
    by_id = {m["Message-ID"]: m for m in sink.messages}
    assert set(by_id) == {f"<{e.event_id}@stmd.example>" for e in events}
    subjects = [by_id[f"<{e.event_id}@stmd.example>"]["Subject"] for e in events]
    assert subjects == [
        "„Digitales Amt“: Prüfung eröffnet – Stadt Kitzingen",
        "Herzlichen Glückwunsch: Stadt Kitzingen ist „Digitales Amt“",
        "„Digitales Amt“: Prüfung des Widerrufs – Stadt Kitzingen",
        "„Digitales Amt“: Auszeichnung bleibt bestehen – Stadt Kitzingen",
        "„Digitales Amt“: Auszeichnung widerrufen – Stadt Kitzingen",
        "„Digitales Amt“: Auszeichnung derzeit nicht verliehen – Stadt Kitzingen",
        "„Digitales Amt“: Frist bis 25.01.2027 – Stadt Kitzingen",
        "„Digitales Amt“: Schwelle wieder erreicht – Stadt Kitzingen",
        "„Digitales Amt“: Prüfung des Widerrufs eingestellt – Stadt Kitzingen",
    ]
    for m in sink.messages:
        assert m["To"] == KT_MAIL and m["From"] == "digitales-amt@stmd.example"
        assert "Sehr geehrte Damen und Herren" in body(m, "plain") and "<html" in body(m, "html")
    granted = by_id[f"<{events[1].event_id}@stmd.example>"]
    text = body(granted, "plain")
    assert "DA-2026-00001" in text and "26.11.2026" in text
    assert "https://digitales-amt.example/signet/09675141.svg" in text
    assert '<a href="https://digitales-amt.example/verify/DA-2026-00001">' in text
    assert "Plakette" in text and "https://digitales-amt.example/plakette/" in text
    assert "Nur noch 48 Verfahren" in body(by_id[f"<{events[4].event_id}@stmd.example>"], "html")
    rejected = body(by_id[f"<{events[5].event_id}@stmd.example>"], "plain")
    assert "Verknüpfungen fehlerhaft" in rejected
    assert "bis zum 24.02.2027 ununterbrochen mindestens 50 Online-Verfahren" in rejected
    grace = body(by_id[f"<{events[6].event_id}@stmd.example>"], "plain")
    assert "nur noch 47 Online-Verfahren" in grace and "es fehlen 3" in grace and "bis zum 25.01.2027" in grace
    assert "Sinkt die Anzahl vor dem 25.01.2027" in body(by_id[f"<{events[7].event_id}@stmd.example>"], "plain")
    assert "bleibt bestehen" in body(by_id[f"<{events[8].event_id}@stmd.example>"], "html")


async def test_without_a_contact_the_email_waits_then_goes_out(notify, smtp, settings) -> None:
    sink, _ = smtp
    await send(settings, case_events(WUERZBURG)[0])

    async def pending() -> list:
        page = (await notify.get("/v1/notifications", params={"status": "pending"}, headers=ADMIN)).json()
        return page["items"]

    [waiting] = await eventually(pending)
    assert (waiting["authority_id"], waiting["has_contact"], waiting["attempts"]) == (WUERZBURG, False, 0)
    assert sink.messages == []
    await contacts(notify, (WUERZBURG, WU_MAIL))

    # The server holds the message before the mailer has recorded the send: wait for the record.
    sent = await eventually(lambda: sent_items(notify))
    assert [(n["authority_id"], n["sent_to"]) for n in sent] == [(WUERZBURG, WU_MAIL)]
    assert len(sink.to(WU_MAIL)) == 1


async def test_a_server_answering_4xx_is_retried_until_it_accepts(notify, smtp, settings) -> None:
    sink, _ = smtp
    sink.temporary_failures = 3
    await contacts(notify, (KITZINGEN, KT_MAIL))
    await send(settings, case_events(KITZINGEN)[0])

    [n] = await eventually(lambda: sent_items(notify))
    assert n["attempts"] == 4 and len(sink.messages) == 1


async def test_a_5xx_answer_marks_the_email_failed_with_the_answer(notify, smtp, settings) -> None:
    sink, _ = smtp
    sink.permanent[KT_MAIL] = "550 5.1.1 Mailbox unknown"
    await contacts(notify, (KITZINGEN, KT_MAIL))
    await send(settings, case_events(KITZINGEN)[0])

    async def failed() -> list:
        return (await notify.get("/v1/notifications", params={"status": "failed"}, headers=ADMIN)).json()["items"]

    [n] = await eventually(failed)
    assert n["attempts"] == 1 and "550" in n["last_error"] and "Mailbox unknown" in n["last_error"]
    assert sink.messages == []
    [told] = events_of(await read_topic(settings, "notify.notifications.v1", settle=1.0))
    assert told["event_type"] == "NotificationUndeliverable" and told["authority_id"] == KITZINGEN
    assert (told["notification_id"], told["notification_type"], told["attempts"]) == (n["event_id"], "CaseOpened", 1)
    assert "Mailbox unknown" in told["error"] and told["case_id"] is not None


async def test_no_second_email_after_a_redelivered_event_or_a_restart(smtp, start, settings) -> None:
    sink, port = smtp
    own = settings.model_copy(update={"smtp_port": port})
    event = case_events(KITZINGEN)[0]
    async with contextlib.AsyncExitStack() as stack:
        from shared.runtime import service_runtime
        from tests.conftest import MIGRATIONS

        rt, _ = await stack.enter_async_context(service_runtime("notify", MIGRATIONS["notify"], build_notify, own))
        async with rt.pool.acquire() as conn:
            await repository.upsert_contacts(conn, [(KITZINGEN, KT_MAIL)])
        await send(settings, event, event)

        async def sent() -> bool:  # recorded as sent, not only held by the server, before the service stops
            status = await rt.pool.fetchval("SELECT status FROM notification WHERE event_id = $1", event.event_id)
            return status == "sent" and len(sink.messages) == 1

        await eventually(sent)
    await send(settings, event)
    rt, _ = await start("notify", build_notify, own)

    async def third_copy_consumed() -> bool:  # the restarted service has read the redelivered event ...
        return await rt.pool.fetchval('SELECT sum("offset" + 1) FROM consumer_offset') == 3

    await eventually(third_copy_consumed)
    mailer_idle = await rt.pool.fetchval(
        "SELECT count(*) FROM notification WHERE status = 'pending'"
    )
    assert mailer_idle == 0  # ... and has nothing left to send
    assert len(sink.messages) == 1
    assert await rt.pool.fetchval("SELECT attempts FROM notification WHERE event_id = $1", event.event_id) == 1


async def test_smtp_down_then_back_delivers_every_email_once(start, settings) -> None:
    port = free_port()  # nothing listens here yet
    own = settings.model_copy(update={"smtp_port": port, "mail_retry_base_s": 0.1})
    rt, client = await start("notify", build_notify, own)
    async with rt.pool.acquire() as conn:
        await repository.upsert_contacts(conn, [(KITZINGEN, KT_MAIL)])
    events = case_events(KITZINGEN)[:2]
    await send(settings, *events)

    async def retrying() -> bool:
        items = (await client.get("/v1/notifications", params={"status": "pending"}, headers=ADMIN)).json()["items"]
        return len(items) == 2 and all(n["attempts"] >= 1 and "Connect" in (n["last_error"] or "") for n in items)

    await eventually(retrying)
    from aiosmtpd.controller import Controller

    from harness.smtp import Sink

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        async def delivered() -> bool:
            return len(sink.messages) == 2

        await eventually(delivered, timeout=30)
    finally:
        controller.stop()
    assert sorted(m["Message-ID"] for m in sink.messages) == sorted(f"<{e.event_id}@stmd.example>" for e in events)


async def test_a_notification_that_cannot_be_composed_fails_and_the_ones_behind_it_go_out(notify, smtp, settings) -> None:
    sink, _ = smtp
    broken = uuid.uuid4()  # an AwardGranted without its number and date: no template can render it
    async with notify.rt.pool.acquire() as conn:
        await repository.add_notification(conn, broken, KITZINGEN, "AwardGranted",
                                          {"authority_id": KITZINGEN, "event_id": str(broken), "reviewer": "x",
                                           "case_id": "not-a-uuid", "correlation_id": 7})
    await contacts(notify, (KITZINGEN, KT_MAIL))
    good = case_events(KITZINGEN)[0]
    await send(settings, good)

    async def good_one_sent() -> bool:
        return [m["Message-ID"] for m in sink.messages] == [f"<{good.event_id}@stmd.example>"]

    await eventually(good_one_sent)
    failed = (await notify.get("/v1/notifications", params={"status": "failed"}, headers=ADMIN)).json()["items"]
    assert [n["event_id"] for n in failed] == [str(broken)]
    assert failed[0]["last_error"].startswith("cannot compose the email: UndefinedError")
    [told] = events_of(await read_topic(settings, "notify.notifications.v1", settle=1.0))
    assert (told["notification_id"], told["attempts"], told["case_id"]) == (str(broken), 0, None)


async def test_the_notifications_with_addresses_are_for_operators_only(start, settings) -> None:
    _, open_to_all = await start("notify", build_notify, settings.model_copy(update={"admin_token": None}))
    disabled = await open_to_all.get("/v1/notifications")
    assert disabled.status_code == 503 and disabled.json()["detail"].startswith("admin endpoints disabled")
    _, notify = await start("notify", build_notify)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN["Authorization"] + "x"},
                    {"Authorization": ADMIN["Authorization"].replace("Bearer", "Basic")}):
        refused = await notify.get("/v1/notifications", headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer", headers
    assert (await notify.get("/v1/notifications", headers=ADMIN)).status_code == 200
    for public in ("/", "/v1/listing.json", "/healthz"):
        assert (await notify.get(public)).status_code == 200, public

    async def ready() -> bool:  # open to all too, once its consumers have had their first heartbeat
        return (await notify.get("/readyz")).status_code == 200

    assert await eventually(ready)
