"""Emails to authorities: rendered from templates (German, plain text and HTML) and sent over SMTP."""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID

import aiosmtplib
import asyncpg
import jinja2
import structlog
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from prometheus_client import Counter

from services.notify import domain, repository
from shared import outbox
from shared.authorities import Authority, registry
from shared.db import Wakeup
from shared.events import NotificationUndeliverable
from shared.settings import LOOPBACK, Settings

log = structlog.get_logger(__name__)

SENT = Counter("notify_emails_total", "email send attempts", ["outcome"])

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2", "svg.j2"), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

SUBJECTS = {
    "CaseOpened": "„Digitales Amt“: Prüfung eröffnet – {name}",
    "CaseOpened/revocation": "„Digitales Amt“: Prüfung des Widerrufs – {name}",
    "AwardGranted": "Herzlichen Glückwunsch: {name} ist „Digitales Amt“",
    "AwardRejected": "„Digitales Amt“: Auszeichnung derzeit nicht verliehen – {name}",
    "GracePeriodStarted": "„Digitales Amt“: Frist bis {deadline} – {name}",
    "GracePeriodEnded": "„Digitales Amt“: Schwelle wieder erreicht – {name}",
    "CaseClosed": "„Digitales Amt“: Prüfung des Widerrufs eingestellt – {name}",
    "AwardRevoked": "„Digitales Amt“: Auszeichnung widerrufen – {name}",
    "AwardKept": "„Digitales Amt“: Auszeichnung bleibt bestehen – {name}",
    "PlaqueShipped": "„Digitales Amt“: Ihre Plakette ist unterwegs – {name}",
}


def _authority(authority_id: str) -> Authority:
    return registry().get(authority_id) or Authority(authority_id, authority_id, "gemeinde", None, "")


def signature_lines(settings: Settings) -> list[str]:
    """The sender block: MAIL_SIGNATURE, lines separated by a newline (or a literal \\n in an environment file)."""
    return [line.strip() for line in settings.mail_signature.replace("\\n", "\n").splitlines() if line.strip()]


def _german_date(iso: str | None) -> str:
    return date.fromisoformat(iso).strftime("%d.%m.%Y") if iso else ""


def render(event_type: str, payload: dict[str, Any], settings: Settings) -> tuple[str, str, str]:
    """(subject, text, html) of the email for one event."""
    authority = _authority(payload["authority_id"])
    base = settings.public_base_url.rstrip("/")
    awarded = payload.get("awarded_at")
    day = date.fromisoformat(awarded) if awarded else None
    deadline = _german_date(payload.get("deadline"))
    verify_url = f"{base}/verify/{payload.get('award_number', '')}"
    context = {
        "event": payload,
        "authority": authority,
        "signature": signature_lines(settings),
        "listing_url": f"{base}/",
        "signet_url": f"{base}/signet/{authority.key}.svg",
        "signet_png_url": f"{base}/signet/{authority.key}.png",
        "verify_url": verify_url,
        "snippet": domain.signet_snippet(base, authority.key, verify_url, authority.display_name),
        "plaque_url": f"{base}/plakette/{payload['plaque_token']}" if payload.get("plaque_token") else "",
        "awarded_on": day.strftime("%d.%m.%Y") if day else "",
        "year": day.year if day else "",
        "deadline_on": deadline,
        "rereview_on": _german_date(payload.get("rereview_on")),
        "rereview_days": f"{payload.get('rereview_after_days') or 0:.0f}",
        "shipped_on": _german_date(payload.get("shipped_on")),
    }
    key = f"{event_type}/revocation" if event_type == "CaseOpened" and payload.get("kind") == "revocation" else event_type
    subject = domain.header_safe(SUBJECTS[key].format(name=authority.display_name, deadline=deadline))
    text = TEMPLATES.get_template(f"{event_type}.txt.j2").render(context, subject=subject)
    html = TEMPLATES.get_template(f"{event_type}.html.j2").render(context, subject=subject)
    return subject, text, html


def compose(event_id: UUID, event_type: str, payload: dict[str, Any], to: str, settings: Settings) -> EmailMessage:
    subject, text, html = render(event_type, payload, settings)
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    if settings.mail_reply_to:
        msg["Reply-To"] = settings.mail_reply_to
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = domain.message_id(event_id, settings.mail_from)
    msg["X-Digitales-Amt-Event"] = event_type
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def smtp_in_clear(settings: Settings) -> list[str]:
    """A password must not travel unencrypted to a mail server on another machine."""
    if settings.smtp_password and not settings.smtp_starttls and settings.smtp_host not in LOOPBACK:
        return [f"SMTP_PASSWORD would be sent in clear text to {settings.smtp_host}; set SMTP_STARTTLS=true"]
    return []


async def send(msg: EmailMessage, settings: Settings) -> None:
    await aiosmtplib.send(
        msg,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_user,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        start_tls=settings.smtp_starttls,
        use_tls=False,
        timeout=30,
    )


def classify(exc: BaseException) -> tuple[str, bool]:
    """(the server's answer or the error, whether it is permanent): a 5xx reply is, nothing else is."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        first = exc.recipients[0]
        return f"{first.code} {first.message}", 500 <= first.code < 600
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}", 500 <= exc.code < 600
    return f"{type(exc).__name__}: {exc}", False


async def send_next(pool: asyncpg.Pool, settings: Settings) -> bool:
    """Send the oldest due email; the row stays locked while sending, so a crash resends at most this one.

    A notification that cannot be composed (a template or payload error) is marked failed with the error, so that
    one bad row never holds up the emails behind it.
    """
    async with pool.acquire() as conn, conn.transaction():
        n = await repository.next_due(conn)
        if n is None:
            return False
        with structlog.contextvars.bound_contextvars(event_id=str(n["event_id"]), authority_id=n["authority_id"],
                                                     event_type=n["event_type"]):
            try:
                msg = compose(n["event_id"], n["event_type"], n["payload"], n["email"], settings)
            except COMPOSE_ERRORS as exc:
                error = f"cannot compose the email: {type(exc).__name__}: {exc}"[:2_000]
                await give_up(conn, n, error, attempts=n["attempts"])
                SENT.labels("failed").inc()
                log.error("email_not_composed", error=error, exc_info=exc)
                return True
            try:
                await send(msg, settings)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await _after_failure(conn, n, exc, settings)
                return True
            await repository.mark_sent(conn, n["event_id"], n["email"])
            SENT.labels("sent").inc()
            log.info("email_sent", message_id=msg["Message-ID"])
    return True


# What a payload or template can get wrong: a missing or mistyped field, a template that does not render, a header
# value the email library refuses.
COMPOSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, LookupError, jinja2.TemplateError)


async def give_up(conn: asyncpg.Connection, n: dict[str, Any], error: str, *, attempts: int) -> None:
    """The email is not sent, for good: marked failed, and awards is told (the reviewers see it in the case)."""
    await repository.mark_failed(conn, n["event_id"], error)
    payload = n["payload"]
    correlation_id, case_id = payload.get("correlation_id"), payload.get("case_id")
    await outbox.enqueue(conn, [NotificationUndeliverable(
        authority_id=n["authority_id"],
        correlation_id=correlation_id if isinstance(correlation_id, str) and correlation_id else f"notification:{n['event_id']}",
        notification_id=n["event_id"], notification_type=n["event_type"], case_id=_uuid_or_none(case_id),
        attempts=attempts, error=error[:2_000],
    )])


def _uuid_or_none(value: Any) -> UUID | None:
    """The payload's case id if it is one: a broken payload (the reason it is given up) must not stop the mailer."""
    try:
        return UUID(str(value)) if value is not None else None
    except ValueError:
        return None


async def _after_failure(conn: asyncpg.Connection, n: dict[str, Any], exc: BaseException, settings: Settings) -> None:
    error, permanent = classify(exc)
    outcome = domain.after_failure(
        n["attempts"] + 1, error, permanent, base_s=settings.mail_retry_base_s, max_attempts=settings.mail_max_attempts,
    )
    if outcome.status == "failed":
        await give_up(conn, n, error, attempts=n["attempts"] + 1)
        log.error("email_failed", error=error, attempts=n["attempts"] + 1)
    else:
        assert outcome.retry_in is not None
        await repository.mark_retry(conn, n["event_id"], error, outcome.retry_in)
        log.warning("email_retry", error=error, attempts=n["attempts"] + 1,
                    retry_in_s=round(outcome.retry_in.total_seconds(), 1))
    SENT.labels(outcome.status).inc()


async def run_mailer(
    pool: asyncpg.Pool, settings: Settings, connect: Any, beat: Callable[[], None], *, max_idle_s: float = 5.0
) -> None:
    """Send what is due, then sleep until woken (new notification or contact) or the next retry is due.

    Runs under the supervisor: a database outage raises out of here, is reported, and the mailer is restarted.
    """
    wake = Wakeup()
    conn: asyncpg.Connection = await connect()
    try:
        await wake.listen(conn, await repository.mail_channel(conn))
        while True:
            while await send_next(pool, settings):
                pass
            beat()
            due = await repository.next_wake(pool)
            idle = max_idle_s
            if due is not None:
                idle = min(max_idle_s, max(0.05, (due - datetime.now(due.tzinfo)).total_seconds()))
            await wake.sleep(idle)
    finally:
        if not conn.is_closed():
            conn.terminate()
