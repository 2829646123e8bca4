"""Reading XZuFi 2.2 pages by local names, and mapping regions (ARS) to authority keys."""

from __future__ import annotations

import pytest

from services.ingest.domain import authority_for_region
from services.ingest.xzufi import ObjectId, XZuFiError, parse
from shared.authorities import registry
from tests.support.feed_server import PVOG_PAGES

PAGES = PVOG_PAGES


def test_page_objects_are_read_by_local_name_whatever_the_prefix() -> None:
    doc = parse((PAGES / "page-0.xml").read_bytes())
    assert [(s.id, s.name, s.url) for s in doc.services] == [
        (ObjectId("L100012", "OD-HUND"), "Hund online anmelden", "https://example.invalid/hund")
    ]
    assert [(le.id.value, le.name, le.leika_key) for le in doc.leistungen] == [
        ("LS-HUND", "Hundesteuer - Anmeldung eines Hundes", "99102013104000")
    ]
    assert [(t.id.value, t.is_link, t.regions) for t in doc.ties] == [
        ("Z-KT-HUND", True, ("096750141141",)),
        ("Z-VG-HUND", True, ("096755616000",)),
        ("Z-OE-KT", False, ("096750141141",)),
    ]
    assert doc.deletions == []


def test_deletions_carry_class_and_identity() -> None:
    doc = parse((PAGES / "page-1.xml").read_bytes())
    assert [(d.klasse, d.id) for d in doc.deletions] == [
        ("Zustaendigkeit", ObjectId("L100012", "Z-LONG-GONE")),
        ("Onlinedienst", ObjectId("L999999", "OD-LONG-GONE")),
    ]


@pytest.mark.parametrize(
    "xml",
    [b"", b"<not-closed>", b"<a><schreibe><onlinedienst><bezeichnung>x</bezeichnung></onlinedienst></schreibe></a>"],
)
def test_unreadable_documents_are_errors(xml: bytes) -> None:
    with pytest.raises(XZuFiError):
        parse(xml)


def test_entities_are_not_expanded() -> None:
    xml = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a><schreibe>' \
          b"<onlinedienst><id>&e;</id></onlinedienst></schreibe></a>"
    with pytest.raises(XZuFiError):
        parse(xml)


@pytest.mark.parametrize(
    ("ars", "key"),
    [
        ("096750141141", "09675141"),  # Kitzingen, Stadt
        ("096755616139", "09675139"),  # Iphofen in VG Iphofen
        ("091620000000", "09162000"),  # München, kreisfreie Stadt
        ("096755616000", "096755616"),  # VG Iphofen
        ("096750000000", "09675"),  # Landkreis Kitzingen
        ("09675", "09675"),  # short keys are right-padded
        ("096000000000", "096"),  # Bezirk Unterfranken
        ("090000000000", None),  # Land: no single authority
        ("081110000000", None),  # not in Bavaria
        ("09x", None),
    ],
)
def test_regions_map_to_authority_keys(ars: str, key: str | None) -> None:
    assert authority_for_region(ars, registry().__contains__) == key
