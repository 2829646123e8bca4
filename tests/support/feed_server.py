"""A local PVOG Bereitstelldienst: serves XZuFi pages over real HTTP, can fail on purpose and demand a token."""

from __future__ import annotations

import base64
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.infra import free_port
from harness.serve import served

PVOG_PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pvog"


def pvog_pages() -> list[bytes]:
    """The recorded-shape XZuFi pages of tests/fixtures/pvog, in feed order."""
    return [p.read_bytes() for p in sorted(PVOG_PAGES.glob("page-*.xml"))]

PATH = "/bereitstelldienst/api/v2/verwaltungsobjekte"


@dataclass
class FeedServer:
    pages: list[bytes]
    port: int = field(default_factory=free_port)
    failures: dict[int, int] = field(default_factory=dict)  # index -> how many 500s before it answers
    broken: set[int] = field(default_factory=set)  # index -> always 500
    require_token: bool = False
    served: Counter[int] = field(default_factory=Counter)
    tokens_issued: int = 0
    overrides: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> fields of the page body to replace
    token_answer: dict[str, Any] | None = None  # what the token endpoint answers instead of a token

    @property
    def first_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}?index=0&ars=%25"

    async def page(self, request: Request) -> Response:
        if self.require_token and request.headers.get("authorization") != f"Bearer tok-{self.tokens_issued}":
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        index = int(request.query_params.get("index", "0"))
        if index in self.broken:
            return JSONResponse({"error": "down"}, status_code=500)
        if self.failures.get(index, 0) > 0:
            self.failures[index] -= 1
            return JSONResponse({"error": "try again"}, status_code=503)
        self.served[index] += 1
        last = len(self.pages) - 1
        xml = self.pages[index].decode() if index <= last else ""
        nxt = min(index + 1, len(self.pages))
        body = {
            "xzufiObjekte": xml,
            "vollstaendig": index >= last,
            "naechsterIndex": nxt,
            "naechsteAnfrageUrl": f"{PATH}?index={nxt}&ars=%25",
            "anzahlObjekte": xml.count("<") // 10,
        }
        return JSONResponse(body | self.overrides.get(index, {}))

    async def token(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(b"ingest-client:client-secret").decode()
        form = parse_qs((await request.body()).decode())
        if request.headers.get("authorization") != expected or form.get("grant_type") != ["client_credentials"]:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if self.token_answer is not None:
            return JSONResponse(self.token_answer)
        self.tokens_issued += 1
        return JSONResponse({"access_token": f"tok-{self.tokens_issued}", "token_type": "bearer", "expires_in": 3600})

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FeedServer]:
        app = Starlette(routes=[Route(PATH, self.page), Route("/token", self.token, methods=["POST"])])
        async with served(app, port=self.port):
            yield self
