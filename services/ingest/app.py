"""The ingest service: portal feeds (signed push, snapshots) and the PVOG feed in; procedure-link events out."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from services.ingest import pvog
from services.ingest.api import FeedRefused, feed_router, on_feed_refused
from shared.authorities import registry
from shared.kernel import Service
from shared.runtime import Runtime
from shared.settings import Settings, weak_secret
from shared.supervisor import Beat, Job
from shared.topics import PROCEDURE_LINKS


def pvog_client(settings: Settings) -> httpx.AsyncClient:
    secret = settings.pvog_client_secret.get_secret_value() if settings.pvog_client_secret else None
    return pvog.new_client(token_url=settings.pvog_token_url, client_id=settings.pvog_client_id, client_secret=secret)


async def poll_pvog(rt: Runtime, beat: Beat) -> None:
    assert rt.settings.pvog_url
    async with pvog_client(rt.settings) as client:
        await pvog.poll(rt.pool, client, rt.settings.pvog_url, rt.settings.pvog_poll_seconds, beat)


def workers(rt: Runtime) -> dict[str, Job]:
    return {"pvog-poller": lambda beat: poll_pvog(rt, beat)} if rt.settings.pvog_url else {}


def install(app: FastAPI) -> None:
    app.add_exception_handler(FeedRefused, on_feed_refused)


INGEST = Service(
    name="ingest",
    description="Portal change feeds in; procedure-link events out.",
    migrations=Path(__file__).parent / "migrations",
    publishes=(PROCEDURE_LINKS,),
    routers=lambda rt: [feed_router(rt.pool, registry(), rt.settings.feed_secret)],
    workers=workers,
    install=install,
    refuses=lambda s: weak_secret(s, "FEED_SECRET", required=True),
)

SERVICE, MIGRATIONS, build = INGEST.name, INGEST.migrations, INGEST.build
