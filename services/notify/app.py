"""Wiring of the notify service: case events in; emails out; the public listing, signet and verify page."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from services.notify.api import notifications_router
from services.notify.handlers import on_case_events
from services.notify.mail import run_mailer
from services.notify.plaque import plaque_router, plaques_admin_router
from services.notify.transparency import Eligibility, transparency_router
from services.notify.web import install_error_pages, public_router
from shared.authorities import registry
from shared.consumer import BatchConsumer
from shared.http import new_app, ops_router
from shared.runtime import Runtime
from shared.topics import CASES

SERVICE = "notify"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> FastAPI:
    BatchConsumer(SERVICE, CASES, on_case_events, pool=rt.pool, broker=rt.broker, settings=rt.settings, health=rt.health).subscribe(
        "one email per case event; keeps the public listing"
    )
    rt.background["mailer"] = lambda beat: run_mailer(rt.pool, rt.settings, rt.connect, beat)
    app = new_app(SERVICE, "Emails to authorities, the public listing, the signet and its verification, plaques.")
    install_error_pages(app)
    eligibility = httpx.AsyncClient(base_url=rt.settings.eligibility_url.rstrip("/"), timeout=5)
    rt.on_stop.append(eligibility.aclose)
    app.include_router(public_router(rt.pool, registry(), rt.settings))
    app.include_router(transparency_router(rt.pool, registry(), rt.settings, Eligibility(eligibility)))
    app.include_router(plaque_router(rt.pool, registry()))
    app.include_router(plaques_admin_router(rt.pool, registry(), rt.settings.admin_token))
    app.include_router(notifications_router(rt.pool, rt.settings.admin_token))
    app.include_router(ops_router(SERVICE, rt.pool, rt.broker, rt.health))
    return app
