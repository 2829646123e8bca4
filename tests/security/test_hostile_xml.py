"""Hostile XZuFi documents and pages are refused clearly, within bounded time and memory: external entities, an
entity bomb, nesting beyond reason, a 100 MB page."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

from harness.serve import served
from services.ingest import pvog
from services.ingest.app import build as build_ingest

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<r xmlns="http://xoev.de/schemata/xzufi/2_2_0"><schreibe><leistung><id schemeAgencyID="a">&x;</id></leistung></schreibe></r>"""
BOMB = ("<?xml version=\"1.0\"?>\n<!DOCTYPE r [\n <!ENTITY a0 \"lol\">\n"
        + "".join(f" <!ENTITY a{i} \"{('&a' + str(i - 1) + ';') * 10}\">\n" for i in range(1, 10))
        + "]>\n<r>&a9;</r>").encode()
DEEP = b"<r>" + b"<x>" * 100_000 + b"</x>" * 100_000 + b"</r>"
OVERSIZED = b"<r>" + b"<x>a</x>" * (33 * 1024 * 1024 // 8) + b"</r>"


def parse_in_a_box(document: bytes) -> str:
    """Parse in a child process limited to 512 MiB of address space and 20 s; returns what it printed."""
    script = textwrap.dedent("""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (512 * 1024 * 1024, 512 * 1024 * 1024))
        from services.ingest.xzufi import XZuFiError, parse
        try:
            doc = parse(sys.stdin.buffer.read())
            print("read", len(doc.leistungen), [l.id.value for l in doc.leistungen])
        except XZuFiError as exc:
            print("refused:", exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], input=document, capture_output=True, timeout=20, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout.decode()


@pytest.mark.parametrize(
    ("document", "why"),
    [(XXE, "DOCTYPE is not allowed"), (BOMB, "entity amplification"), (DEEP, "not well-formed XML"),
     (OVERSIZED, "over the limit")],
    ids=["external-entity", "entity-bomb", "deeply-nested", "oversized"],
)
def test_a_hostile_document_is_refused_within_bounded_time_and_memory(document: bytes, why: str) -> None:
    out = parse_in_a_box(document)
    assert out.startswith("refused:") and why in out, out
    assert "root:" not in out


async def test_a_100_mb_page_is_refused_without_being_held(start) -> None:
    rt, _ = await start("ingest", build_ingest)

    async def endless(_):  # noqa: ANN001, ANN202 - 100 MB, streamed, with no length announced
        async def chunks():  # noqa: ANN202
            yield b'{"xzufiObjekte": "'
            for _ in range(100):
                yield b"x" * (1024 * 1024)
            yield b'", "vollstaendig": true}'

        return StreamingResponse(chunks(), media_type="application/json")

    app = Starlette(routes=[Route("/feed", endless)])
    async with served(app) as base, pvog.new_client() as client:
        with pytest.raises(pvog.PvogError, match="over") as refused:
            await pvog.sync(rt.pool, client, f"{base}/feed", backoff=0.01)
    assert refused.value.reason == "page_size"
