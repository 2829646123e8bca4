"""Every email renders for every kind of authority, in German with typographic quotes, its name with its kind, the
configured sender block and Reply-To."""

from __future__ import annotations

import uuid

import pytest

from services.notify.mail import SUBJECTS, compose, render
from shared.authorities import KIND_LABELS, registry
from shared.settings import Settings

SETTINGS = Settings(_env_file=None, public_base_url="https://digitales-amt.example",
                    mail_signature="Bayerisches Staatsministerium für Digitales\\nReferat D3\\nTelefon 089 0000-0",
                    mail_reply_to="digitales-amt@stmd.bayern.example")
ONE_OF_EACH_KIND = {kind: next(a for a in registry() if a.kind == kind) for kind in KIND_LABELS}
PAYLOADS = {
    "CaseOpened": {"kind": "award", "count": 51},
    "CaseOpened/revocation": {"kind": "revocation", "count": 47},
    "AwardGranted": {"award_number": "DA-2026-00001", "awarded_at": "2026-11-26", "plaque_token": "t0k"},
    "AwardRejected": {"reason": "Verknüpfungen fehlerhaft", "rereview_on": "2027-02-24", "threshold": 50,
                      "rereview_after_days": 90},
    "AwardRevoked": {"award_number": "DA-2026-00001", "reason": "zu wenige"},
    "AwardKept": {"award_number": "DA-2026-00001"},
    "GracePeriodStarted": {"award_number": "DA-2026-00001", "deadline": "2027-01-25", "count": 47, "threshold": 50},
    "GracePeriodEnded": {"award_number": "DA-2026-00001", "deadline": "2027-01-25", "count": 50, "threshold": 50},
    "CaseClosed": {"kind": "revocation", "count": 51, "reason": "Schwelle wieder erreicht"},
    "PlaqueShipped": {"award_number": "DA-2026-00001", "shipped_on": "2026-12-03",
                      "address_lines": ["Hauptamt", "Marktplatz 1", "97318 Kitzingen", "z. Hd. Erika Muster"]},
}


@pytest.mark.parametrize("kind", sorted(KIND_LABELS))
@pytest.mark.parametrize("key", sorted(SUBJECTS))
def test_every_email_renders_for_every_kind(key: str, kind: str) -> None:
    authority = ONE_OF_EACH_KIND[kind]
    event_type = key.split("/")[0]
    subject, text, html = render(event_type, {"authority_id": authority.key, **PAYLOADS[key]}, SETTINGS)
    assert authority.display_name in subject
    assert authority.display_name in text and authority.display_name in html
    for body in (text, html):
        assert "Sehr geehrte Damen und Herren," in body
        assert "Referat D3" in body and "Telefon 089 0000-0" in body
        assert '"Digitales Amt"' not in body, "typographic quotes, in plain text too"
    opening = text.split("Sehr geehrte Damen und Herren,\n\n", 1)[1]
    assert opening[0].islower(), f"after the greeting's comma the text goes on in lower case: {opening[:40]!r}"
    if "Digitales Amt" in subject:
        assert "„Digitales Amt“" in subject


def test_the_congratulation_links_the_plaque_form_and_gives_the_snippet() -> None:
    _, text, html = render("AwardGranted", {"authority_id": "09675", **PAYLOADS["AwardGranted"]}, SETTINGS)
    assert "https://digitales-amt.example/plakette/t0k" in text and 'href="https://digitales-amt.example/plakette/t0k"' in html
    assert ('<a href="https://digitales-amt.example/verify/DA-2026-00001"><img src="https://digitales-amt.example/signet/'
            '09675.svg" alt="Signet „Digitales Amt“ – Landkreis Kitzingen" width="240"></a>') in text
    assert "Der Landkreis Kitzingen trägt ab sofort" in text


def test_sender_and_reply_to() -> None:
    msg = compose(uuid.uuid4(), "AwardKept", {"authority_id": "096", **PAYLOADS["AwardKept"]}, "a@b.example", SETTINGS)
    assert msg["Reply-To"] == "digitales-amt@stmd.bayern.example" and msg["From"] == "digitales-amt@stmd.example"
    default = render("AwardKept", {"authority_id": "096", **PAYLOADS["AwardKept"]}, Settings(_env_file=None))[1]
    assert "Bayerisches Staatsministerium für Digitales" in default and "80333 München" in default
