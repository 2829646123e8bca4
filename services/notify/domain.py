"""Notify's rules: which events become emails, when a failed send is retried, and what counts as permanent."""

from __future__ import annotations

import html
import random
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

NOTIFIED_EVENTS = frozenset({
    "CaseOpened", "AwardGranted", "AwardRejected", "AwardRevoked", "AwardKept", "CaseClosed", "GracePeriodStarted",
    "GracePeriodEnded",
})  # and PlaqueShipped, notify's own  # not AwardImported: a holder from before the system gets no congratulation
MAX_DELAY_S = 15 * 60.0
BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What to record after one attempt: sent, retry later, or failed for good."""

    status: str  # "sent" | "pending" | "failed"
    error: str | None = None
    retry_in: timedelta | None = None


def after_failure(
    attempts: int, error: str, permanent: bool, *, base_s: float = 2.0, max_attempts: int = 8,
    rnd: random.Random | None = None,
) -> SendOutcome:
    """A mail server's 5xx is final; anything else is retried with exponential backoff and jitter, up to a limit."""
    if permanent or attempts >= max_attempts:
        return SendOutcome("failed", error)
    delay = min(MAX_DELAY_S, base_s * 2 ** (attempts - 1))
    jittered = (rnd or random).uniform(delay / 2, delay)
    return SendOutcome("pending", error, timedelta(seconds=jittered))


def message_id(event_id: UUID, mail_from: str) -> str:
    """Derived from the event, so a resent message is recognisable as the same message."""
    domain = mail_from.rpartition("@")[2] or "digitales-amt.invalid"
    return f"<{event_id}@{domain}>"


def header_safe(text: str) -> str:
    """No line breaks in header values, whatever a name contains."""
    return " ".join(text.split())


def signet_snippet(base: str, authority_id: str, verify_url: str, name: str) -> str:
    """The HTML an authority copies onto its own site: the signet, linking to the page that confirms it."""
    alt = html.escape(f"Signet „Digitales Amt“ – {name}", quote=True)
    return (f'<a href="{html.escape(verify_url, quote=True)}"><img src="{html.escape(base, quote=True)}/signet/'
            f'{html.escape(authority_id, quote=True)}.svg" alt="{alt}" width="240"></a>')
