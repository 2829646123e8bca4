"""The national PVOG feed for the whole of Bavaria, generated: XZuFi 2.2 pages in the Bereitstelldienst's JSON.

Deterministic (one seed) and shaped like the real feed where it costs: every one of the 2,445 authorities offers
tens to hundreds of online services (a Landkreis more than a Gemeinde), each offer a `zustaendigkeit` with the
authority's ARS in a `zustaendigkeitTransferObjekt` per service; services and their Leistungen carry names in
several languages and long text modules with HTML; about one tie in twelve arrives a page before its service and
Leistung; every page deletes a few ids that were never delivered. `scale` multiplies the services per authority
(and the catalogue), so 4x is four times the Zuständigkeiten for the same authorities.

Pages are written to a directory before anything is timed and served from there on loopback, so the bench's own
generator never competes with the system for the two cores.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.serve import served
from shared.authorities import registry

PATH = "/bereitstelldienst/api/v2/verwaltungsobjekte"
AGENCY = "L100012"
TIES_PER_PAGE = 2_000
CATALOGUE = 800  # Leistungen offered online in Bavaria at 1x, one Onlinedienst each
# services per authority at 1x, by kind: (low, high); the mean over Bavaria is about 100
OFFERS = {"bezirk": (30, 80), "landkreis": (150, 320), "kreisfreie_stadt": (180, 380), "stadt": (80, 220),
          "markt": (50, 160), "gemeinde": (30, 140), "verwaltungsgemeinschaft": (20, 90)}
HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n<xzufi:transfer xmlns:xzufi="http://xoev.de/schemata/xzufi/2_2_0" xzufiVersion="2.2.0">\n'
LOREM = ("Die Leistung kann vollständig online beantragt werden. Sie benötigen ein BayernID-Konto oder den Online-"
         "Ausweis. Nach Eingang prüft die zuständige Stelle Ihren Antrag und teilt Ihnen das Ergebnis mit.")


def ars_of(key: str) -> str:
    """The 12-digit ARS that names the authority with this key (Gemeinde, VG, Landkreis or Bezirk)."""
    if len(key) == 8:
        return key[:5] + "0000" + key[5:]
    return key.ljust(12, "0")


@dataclass(frozen=True)
class Feed:
    pages: list[Path]
    ties: int
    expected: dict[str, int]  # authority -> counted procedures once the feed is applied


def _service(i: int) -> str:
    url = f"https://www.freistaat.bayern/dienste/od-{i:05d}"
    return (
        f'  <xzufi:schreibe>\n    <xzufi:onlinedienst>\n      <xzufi:id schemeAgencyID="{AGENCY}">OD-{i:05d}</xzufi:id>\n'
        f'      <xzufi:bezeichnung languageCode="de">Online-Dienst {i} beantragen</xzufi:bezeichnung>\n'
        f'      <xzufi:bezeichnung languageCode="en">Apply for service {i} online</xzufi:bezeichnung>\n'
        f'      <xzufi:bezeichnung languageCode="fr">Demande en ligne {i}</xzufi:bezeichnung>\n'
        f'      <xzufi:link><xzufi:typ listURI="urn:xoev-de:fim:codeliste:onlinedienstlinktyp"><code>01</code></xzufi:typ>'
        f'<xzufi:link>{url}</xzufi:link><xzufi:titel>Zum Antrag</xzufi:titel></xzufi:link>\n'
        f'      <xzufi:vertrauensniveau><code>{1 + i % 3}</code></xzufi:vertrauensniveau>\n'
        f'    </xzufi:onlinedienst>\n  </xzufi:schreibe>\n'
    )


def _leistung(i: int) -> str:
    html = escape("".join(f"<p><strong>Abschnitt {k}.</strong> {LOREM}</p><ul><li>Nachweis {k}</li></ul>" for k in range(4)))
    modules = "".join(
        f'      <xzufi:modulText><xzufi:leikaTextmodul><code>{code:02d}</code></xzufi:leikaTextmodul>'
        f'<xzufi:inhalt languageCode="{lang}">{text}</xzufi:inhalt></xzufi:modulText>\n'
        for code, lang, text in ((1, "de", html), (2, "de", f"Leistung {i} – Antrag <b>online</b>"),
                                 (1, "en", escape(f"<p>Service {i}: {LOREM[:80]}</p>")))
    )
    modules = modules.replace("<b>online</b>", "&lt;b&gt;online&lt;/b&gt;")
    return (
        f'  <xzufi:schreibe>\n    <xzufi:leistung>\n      <xzufi:id schemeAgencyID="{AGENCY}">LS-{i:05d}</xzufi:id>\n'
        f'      <xzufi:referenzLeiKa><code>99{i:012d}</code></xzufi:referenzLeiKa>\n{modules}'
        f'    </xzufi:leistung>\n  </xzufi:schreibe>\n'
    )


def _ties(service: int, authorities: list[str]) -> str:
    inner = "".join(
        f'      <xzufi:zustaendigkeit><xzufi:id schemeAgencyID="{AGENCY}" schemeID="ZustaendigkeitOnlinedienst">'
        f'Z-{service:05d}-{key}</xzufi:id><xzufi:leistungID schemeAgencyID="{AGENCY}">LS-{service:05d}</xzufi:leistungID>'
        f'<xzufi:gebietID>{ars_of(key)}</xzufi:gebietID></xzufi:zustaendigkeit>\n'
        for key in authorities
    )
    return (
        f'  <xzufi:schreibe>\n    <xzufi:zustaendigkeitTransferObjekt>\n'
        f'      <xzufi:uebergeordnetesObjektID schemeAgencyID="{AGENCY}">OD-{service:05d}</xzufi:uebergeordnetesObjektID>\n'
        f'{inner}    </xzufi:zustaendigkeitTransferObjekt>\n  </xzufi:schreibe>\n'
    )


def _offers(scale: float, rnd: random.Random) -> tuple[int, dict[int, list[str]]]:
    """(catalogue size, service -> the authorities offering it)."""
    catalogue = max(50, int(CATALOGUE * max(scale, 1.0)))
    popularity = [1.0 / (1 + i / 60) for i in range(catalogue)]  # a few services nearly everywhere, a long tail
    offered: dict[int, list[str]] = {}
    for authority in sorted(registry(), key=lambda a: a.key):
        low, high = OFFERS.get(authority.kind, (30, 140))
        n = min(catalogue - 1, max(1, int(rnd.randint(low, high) * scale)))
        chosen: set[int] = set()
        while len(chosen) < n:
            chosen.update(rnd.choices(range(catalogue), weights=popularity, k=n - len(chosen)))
        for service in chosen:
            offered.setdefault(service, []).append(authority.key)
    return catalogue, offered


def _chunks(offered: dict[int, list[str]]) -> Iterator[list[tuple[int, list[str]]]]:
    """Transfer objects grouped into pages of about TIES_PER_PAGE ties (a big service spans pages)."""
    page: list[tuple[int, list[str]]] = []
    size = 0
    for service in sorted(offered):
        keys = offered[service]
        for start in range(0, len(keys), TIES_PER_PAGE):
            part = keys[start : start + TIES_PER_PAGE]
            if size + len(part) > TIES_PER_PAGE and page:
                yield page
                page, size = [], 0
            page.append((service, part))
            size += len(part)
    if page:
        yield page


def generate(directory: Path, scale: float = 1.0, seed: int = 11) -> Feed:
    """Write the feed's pages (the XML each page's `xzufiObjekte` carries) to `directory`; returns what to expect."""
    rnd = random.Random(seed)
    catalogue, offered = _offers(scale, rnd)
    directory.mkdir(parents=True, exist_ok=True)
    pages: list[Path] = []
    late: list[int] = []  # services whose ties came a page before them
    gone = 0
    expected: dict[str, int] = {}
    for number, chunk in enumerate(_chunks(offered)):
        parts = [HEADER]
        services = sorted({s for s, _ in chunk})
        arrives_late = [s for s in services if rnd.random() < 1 / 12]
        for s in [*late, *(s for s in services if s not in arrives_late)]:
            parts += [_service(s), _leistung(s)]
        late = arrives_late
        parts += [_ties(s, keys) for s, keys in chunk]
        for _ in range(3):
            gone += 1
            parts.append(f'  <xzufi:loesche klasse="Zustaendigkeit"><xzufi:id schemeAgencyID="{AGENCY}">'
                         f'Z-NEVER-{gone:07d}</xzufi:id></xzufi:loesche>\n')
        parts.append(f'  <xzufi:loesche klasse="Onlinedienst"><xzufi:id schemeAgencyID="{AGENCY}">OD-NEVER-{gone:07d}'
                     f'</xzufi:id></xzufi:loesche>\n')
        pages.append(_write(directory, number, parts))
        for _, keys in chunk:
            for key in keys:
                expected[key] = expected.get(key, 0) + 1
    if late:  # the last page's late services come on a page of their own
        pages.append(_write(directory, len(pages), [HEADER, *(_service(s) + _leistung(s) for s in late)]))
    ties = sum(len(keys) for keys in offered.values())
    (directory / "expected.json").write_text(json.dumps({"ties": ties, "catalogue": catalogue, "expected": expected}))
    return Feed(pages, ties, expected)


def _write(directory: Path, number: int, parts: list[str]) -> Path:
    path = directory / f"page-{number:05d}.xml"
    path.write_text("".join(parts) + "</xzufi:transfer>\n", encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def feed_server(pages: list[Path]) -> AsyncIterator[str]:
    """The Bereitstelldienst on loopback: page `index` of the feed, the next page's URL, `vollstaendig` at the end."""

    async def page(request: Request) -> Response:
        index = int(request.query_params.get("index", "0"))
        last = len(pages) - 1
        xml = pages[index].read_text(encoding="utf-8") if index <= last else ""
        nxt = min(index + 1, len(pages))
        body = {"xzufiObjekte": xml, "vollstaendig": index >= last, "naechsterIndex": nxt,
                "naechsteAnfrageUrl": f"{PATH}?index={nxt}&ars=09"}
        return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")

    async with served(Starlette(routes=[Route(PATH, page)])) as base:
        yield f"{base}{PATH}?index=0&ars=09"
