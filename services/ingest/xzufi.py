"""Reading XZuFi 2.2 documents of the PVOG Bereitstelldienst (see ../shared/XZUFI.md): objects by local name."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

LINK_SCHEME = "ZustaendigkeitOnlinedienst"
URL_LINK_TYPE = "01"


class XZuFiError(ValueError):
    """The document cannot be read; nothing of its page may be applied."""


@dataclass(frozen=True, slots=True)
class ObjectId:
    """Identity in XZuFi is (schemeAgencyID, text); the text alone is not unique."""

    agency: str
    value: str


@dataclass(frozen=True, slots=True)
class Onlinedienst:
    id: ObjectId
    name: str | None
    url: str | None


@dataclass(frozen=True, slots=True)
class Leistung:
    id: ObjectId
    name: str | None
    leika_key: str | None


@dataclass(frozen=True, slots=True)
class Zustaendigkeit:
    """A service offered for a procedure in regions (ARS): a link when its scheme is ZustaendigkeitOnlinedienst."""

    id: ObjectId
    scheme: str
    service: ObjectId
    leistung: ObjectId | None
    regions: tuple[str, ...]

    @property
    def is_link(self) -> bool:
        return self.scheme == LINK_SCHEME


@dataclass(frozen=True, slots=True)
class Deletion:
    klasse: str
    id: ObjectId


@dataclass
class Document:
    services: list[Onlinedienst]
    leistungen: list[Leistung]
    ties: list[Zustaendigkeit]
    deletions: list[Deletion]


def _local(el: etree._Element) -> str:
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""  # comments and processing instructions: ""


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return list(el.iterchildren(f"{{*}}{name}"))  # matched by local name in libxml2, in any namespace


def _child(el: etree._Element, *path: str) -> etree._Element | None:
    for name in path:
        found = next(el.iterchildren(f"{{*}}{name}"), None)
        if found is None:
            return None
        el = found
    return el


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return " ".join(el.text.split()) or None


def _id(el: etree._Element | None, what: str) -> ObjectId:
    value = _text(el)
    if el is None or value is None:
        raise XZuFiError(f"{what} without id")
    return ObjectId(el.get("schemeAgencyID", ""), value)


def _onlinedienst(el: etree._Element) -> Onlinedienst:
    url = None
    for link in _children(el, "link"):
        if _text(_child(link, "typ", "code")) in (URL_LINK_TYPE, None) and (href := _text(_child(link, "link"))):
            url = href
            break
    names = _children(el, "bezeichnung")
    german = [n for n in names if n.get("languageCode", "de").startswith("de")] or names
    return Onlinedienst(_id(_child(el, "id"), "onlinedienst"), _text(german[0]) if german else None, url)


def _leistung(el: etree._Element) -> Leistung:
    name = None
    for modul in _children(el, "modulText"):
        if _text(_child(modul, "leikaTextmodul", "code")) == "02":
            inhalt = _child(modul, "inhalt")
            name = " ".join("".join(inhalt.itertext()).split()) or None if inhalt is not None else None
            break
    leika = _text(_child(el, "referenzLeiKa", "code"))
    return Leistung(_id(_child(el, "id"), "leistung"), name, leika)


def _ties(el: etree._Element) -> list[Zustaendigkeit]:
    service = _id(_child(el, "uebergeordnetesObjektID"), "zustaendigkeitTransferObjekt")
    ties = []
    for z in _children(el, "zustaendigkeit"):
        id_el = _child(z, "id")
        leistung_el = _child(z, "leistungID")
        regions = tuple(dict.fromkeys(t for g in _children(z, "gebietID") if (t := _text(g))))
        ties.append(
            Zustaendigkeit(
                _id(id_el, "zustaendigkeit"),
                id_el.get("schemeID", "") if id_el is not None else "",
                service,
                _id(leistung_el, "leistungID") if leistung_el is not None else None,
                regions,
            )
        )
    return ties


MAX_DOCUMENT_BYTES = 32 * 1024 * 1024  # a page of the Bereitstelldienst is a few MiB


def parse(xml: bytes) -> Document:
    """All objects of one XZuFi document; unknown object kinds are skipped, unreadable XML is an error.

    Hostile input is refused before it costs much: a document over 32 MiB, any DOCTYPE (XZuFi has none; it is where
    external entities and entity bombs live), nesting beyond libxml2's default depth. Entities are never resolved,
    nothing is fetched from the network.
    """
    if len(xml) > MAX_DOCUMENT_BYTES:
        raise XZuFiError(f"document of {len(xml)} bytes is over the limit of {MAX_DOCUMENT_BYTES}")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, dtd_validation=False)
    try:
        root = etree.fromstring(xml, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise XZuFiError(f"not well-formed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise XZuFiError("a DOCTYPE is not allowed in an XZuFi document")
    doc = Document([], [], [], [])
    for op in root:
        kind = _local(op)
        if kind == "schreibe":
            for obj in op:
                name = _local(obj)
                if name == "onlinedienst":
                    doc.services.append(_onlinedienst(obj))
                elif name == "leistung":
                    doc.leistungen.append(_leistung(obj))
                elif name == "zustaendigkeitTransferObjekt":
                    doc.ties.extend(_ties(obj))
        elif kind == "loesche":
            doc.deletions.append(Deletion(op.get("klasse", ""), _id(_child(op, "id"), "loesche")))
    return doc
