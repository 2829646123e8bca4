"""Wiring of the notify service: emails, public listing, signet and verify page (full behaviour: issue #6)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shared.http import new_app, ops_router
from shared.runtime import Runtime

SERVICE = "notify"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> FastAPI:
    app = new_app(SERVICE, "Emails to authorities, the public listing, the signet and its verification.")
    app.include_router(ops_router(SERVICE, rt.pool, rt.broker))
    return app
