"""Wiring of the eligibility service: link events in, threshold events out, the authorities API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.eligibility.api import authorities_router
from services.eligibility.handlers import on_procedure_links, threshold_of
from shared.authorities import registry
from shared.consumer import BatchConsumer
from shared.http import new_app, ops_router
from shared.runtime import Runtime
from shared.topics import PROCEDURE_LINKS, THRESHOLDS

SERVICE = "eligibility"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> FastAPI:
    THRESHOLDS.declare_publisher(rt.broker, rt.settings)
    consumer = BatchConsumer(
        SERVICE,
        PROCEDURE_LINKS,
        on_procedure_links(rt.settings),
        pool=rt.pool,
        broker=rt.broker,
        settings=rt.settings,
        health=rt.health,
        dedupe_event_ids=False,  # idempotent by state: a link row keeps the latest change it applied
        members=rt.settings.eligibility_consumers,
    )
    consumer.subscribe("counts distinct counted procedures per authority; announces threshold crossings")
    app = new_app(SERVICE, "Running count of online procedures per authority; threshold crossings.")
    app.include_router(authorities_router(rt.pool, registry(), threshold_of(rt.settings)))
    app.include_router(ops_router(SERVICE, rt.pool, rt.broker, rt.health))
    return app
