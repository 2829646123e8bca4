"""A local SMTP sink for `make run`: keeps every message under var/mail/ and lists them on a small web inbox."""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import os
import time
from pathlib import Path

import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

MAIL_DIR = Path(os.environ.get("MAIL_SINK_DIR", "var/mail"))


class Store:
    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        MAIL_DIR.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}.eml"
        partial = MAIL_DIR / f".{name}.part"  # not *.eml until whole: readers never see half a message
        partial.write_bytes(envelope.content)
        partial.rename(MAIL_DIR / name)
        return "250 Message accepted for delivery"


def _messages() -> list[tuple[str, email.message.EmailMessage]]:
    files = sorted(MAIL_DIR.glob("*.eml"), reverse=True) if MAIL_DIR.exists() else []
    return [(f.stem, email.message_from_bytes(f.read_bytes(), policy=email.policy.default)) for f in files]


PAGE = """<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Posteingang (lokal)</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;margin:2rem;color:#1a1a1a}}table{{border-collapse:collapse;width:100%}}
td,th{{text-align:left;padding:.4rem;border-bottom:1px solid #ddd}}pre{{white-space:pre-wrap;background:#f5f7fa;padding:1rem}}</style>
</head><body><h1>Posteingang (lokale Test-Mails)</h1>{body}</body></html>"""


async def inbox(request: Request) -> Response:
    rows = "".join(
        f"<tr><td>{html.escape(str(m['Date']))}</td><td>{html.escape(str(m['To']))}</td>"
        f"<td><a href='/message/{key}'>{html.escape(str(m['Subject']))}</a></td></tr>"
        for key, m in _messages()[:500]
    )
    count = len(list(MAIL_DIR.glob("*.eml"))) if MAIL_DIR.exists() else 0
    body = f"<p>{count} Nachricht(en)</p><table><tr><th>Datum</th><th>An</th><th>Betreff</th></tr>{rows}</table>"
    return HTMLResponse(PAGE.format(body=body))


async def message(request: Request) -> Response:
    key = request.path_params["key"]
    path = MAIL_DIR / f"{key}.eml"
    if not key.isdigit() or not path.exists():
        return HTMLResponse(PAGE.format(body="<p>Nicht gefunden.</p>"), status_code=404)
    m = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text = m.get_body(preferencelist=("plain",))
    content = text.get_content() if text is not None else ""
    head = "".join(f"<tr><th>{k}</th><td>{html.escape(str(m[k]))}</td></tr>" for k in ("From", "To", "Subject", "Date", "Message-ID"))
    body = f"<p><a href='/'>Zurück</a></p><table>{head}</table><pre>{html.escape(content)}</pre>"
    return HTMLResponse(PAGE.format(body=body))


async def main() -> None:
    smtp_port = int(os.environ.get("SMTP_PORT", "1025"))
    web_port = int(os.environ.get("MAIL_SINK_WEB_PORT", "8025"))
    controller = Controller(Store(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    app = Starlette(routes=[Route("/", inbox), Route("/message/{key}", message)])
    print(f"mail sink: SMTP on 127.0.0.1:{smtp_port}, inbox on http://127.0.0.1:{web_port}/, files in {MAIL_DIR}", flush=True)
    try:
        await uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=web_port, log_level="warning")).serve()
    finally:
        controller.stop()


if __name__ == "__main__":
    asyncio.run(main())
