"""Wiring of the awards service: threshold events in, case events out, the reviewers' API and console."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.awards.api import cases_router, me_router
from services.awards.console import console_router
from services.awards.handlers import on_thresholds
from shared.authorities import registry
from shared.consumer import BatchConsumer
from shared.http import new_app, ops_router
from shared.runtime import Runtime
from shared.topics import CASES, THRESHOLDS

SERVICE = "awards"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> FastAPI:
    CASES.declare_publisher(rt.broker, rt.settings)
    BatchConsumer(SERVICE, THRESHOLDS, on_thresholds, pool=rt.pool, broker=rt.broker, settings=rt.settings, health=rt.health).subscribe(
        "opens award and revocation cases on threshold crossings"
    )
    app = new_app(SERVICE, "Review cases and reviewers' decisions. Every endpoint but health needs a reviewer token.")
    app.include_router(cases_router(rt.pool, registry()))
    app.include_router(me_router(rt.pool))
    app.include_router(console_router())
    app.include_router(ops_router(SERVICE, rt.pool, rt.broker, rt.health))
    return app
