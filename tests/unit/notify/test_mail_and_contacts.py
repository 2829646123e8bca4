"""Email rendering, retry policy and contact files, on plain data."""

from __future__ import annotations

import random
import uuid

from services.notify.contacts import parse_contacts
from services.notify.domain import after_failure, header_safe, message_id
from services.notify.mail import compose, render
from shared.authorities import registry
from shared.settings import Settings

SETTINGS = Settings(_env_file=None, public_base_url="https://da.example")
HOSTILE = '<script>alert("x")</script>\r\nBcc: victim@example.invalid'


def payload(**kw):  # noqa: ANN003, ANN201
    return {"authority_id": "09675141", "case_id": str(uuid.uuid4()), "reviewer": "r", **kw}


def test_reasons_are_escaped_in_html_and_never_reach_headers() -> None:
    msg = compose(uuid.uuid4(), "AwardRejected", payload(reason=HOSTILE), "a@b.example", SETTINGS)
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Bcc" not in str(msg["Subject"]) and msg["Bcc"] is None
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert 'alert("x")' in text


def test_subjects_and_message_ids() -> None:
    subject, _, _ = render("CaseOpened", payload(kind="revocation", count=3), SETTINGS)
    assert subject == "„Digitales Amt“: Prüfung des Widerrufs – Stadt Kitzingen"
    event_id = uuid.uuid4()
    assert message_id(event_id, "x@stmd.example") == f"<{event_id}@stmd.example>"
    assert header_safe("a\r\nb\tc") == "a b c"


def test_retries_back_off_then_give_up_and_5xx_is_final() -> None:
    rnd = random.Random(1)
    first = after_failure(1, "451", False, base_s=2, rnd=rnd)
    third = after_failure(3, "451", False, base_s=2, rnd=rnd)
    assert first.status == third.status == "pending"
    assert 1 <= first.retry_in.total_seconds() <= 2 and 4 <= third.retry_in.total_seconds() <= 8  # type: ignore[union-attr]
    assert after_failure(8, "451", False, max_attempts=8).status == "failed"
    assert after_failure(1, "550", True).status == "failed"


def test_a_contacts_file_is_taken_whole_or_not_at_all() -> None:
    good = "authority_id,email\n09675141,rathaus@kitzingen.example\n096,Poststelle@Bezirk.Example\n"
    contacts, errors = parse_contacts(good, registry())
    assert errors == [] and contacts == [("09675141", "rathaus@kitzingen.example"), ("096", "Poststelle@bezirk.example")]
    bad = "authority_id,email\n09675141,ok@kitzingen.example\n99999999,x@y.example\n096,not-an-address\n091,a@b,c\n"
    contacts, errors = parse_contacts(bad, registry())
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 4", "line 5"]
    assert "unknown authority" in errors[0] and "invalid email" in errors[1]
    assert parse_contacts("id,mail\n", registry())[1] == ["line 1: the header must be authority_id,email"]
