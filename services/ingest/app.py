"""Wiring of the ingest service: HTTP feeds in, outbox relay out (see shared.runtime)."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from services.ingest import pvog
from services.ingest.api import FeedRefused, feed_router, on_feed_refused
from shared.authorities import registry
from shared.http import new_app, ops_router
from shared.runtime import Runtime
from shared.settings import Settings
from shared.supervisor import Beat
from shared.topics import PROCEDURE_LINKS

SERVICE = "ingest"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> FastAPI:
    PROCEDURE_LINKS.declare_publisher(rt.broker, rt.settings)
    app = new_app(SERVICE, "Portal change feeds in; procedure-link events out.")
    app.add_exception_handler(FeedRefused, on_feed_refused)
    app.include_router(feed_router(rt.pool, registry(), rt.settings.feed_secret))
    app.include_router(ops_router(SERVICE, rt.pool, rt.broker, rt.health))
    if rt.settings.pvog_url:
        rt.background["pvog-poller"] = lambda beat: poll_pvog(rt, beat)
    return app


def pvog_client(settings: Settings) -> httpx.AsyncClient:
    secret = settings.pvog_client_secret.get_secret_value() if settings.pvog_client_secret else None
    return pvog.new_client(token_url=settings.pvog_token_url, client_id=settings.pvog_client_id, client_secret=secret)


async def poll_pvog(rt: Runtime, beat: Beat) -> None:
    assert rt.settings.pvog_url
    async with pvog_client(rt.settings) as client:
        await pvog.poll(rt.pool, client, rt.settings.pvog_url, rt.settings.pvog_poll_seconds, beat)
