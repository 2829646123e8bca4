"""Wiring of the ingest service: HTTP feeds in, outbox relay out (see shared.runtime)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.ingest.api import FeedRefused, feed_router, on_feed_refused
from shared.authorities import registry
from shared.http import new_app, ops_router
from shared.runtime import Runtime
from shared.topics import PROCEDURE_LINKS

SERVICE = "ingest"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> FastAPI:
    PROCEDURE_LINKS.declare_publisher(rt.broker, rt.settings)
    app = new_app(SERVICE, "Portal change feeds in; procedure-link events out.")
    app.add_exception_handler(FeedRefused, on_feed_refused)
    app.include_router(feed_router(rt.pool, registry(), rt.settings.feed_secret))
    app.include_router(ops_router(SERVICE, rt.pool, rt.broker))
    return app
