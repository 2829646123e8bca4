"""Wiring of the awards service: review cases and reviewers' decisions (full behaviour: issue #5)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shared.http import new_app, ops_router
from shared.runtime import Runtime
from shared.topics import CASES

SERVICE = "awards"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> FastAPI:
    CASES.declare_publisher(rt.broker, rt.settings)
    app = new_app(SERVICE, "Review cases and reviewers' decisions.")
    app.include_router(ops_router(SERVICE, rt.pool, rt.broker))
    return app
