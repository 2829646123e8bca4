"""Wiring of the awards service: threshold events in, case events out, timers, evidence, the reviewers' API and console."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from services.awards import workers
from services.awards.api import cases_router, install_refusals
from services.awards.console import console_router
from services.awards.handlers import on_thresholds
from services.awards.plaques import plaques_router
from shared.authorities import registry
from shared.consumer import BatchConsumer
from shared.http import new_app, ops_router
from shared.runtime import Runtime
from shared.topics import CASES, THRESHOLDS

SERVICE = "awards"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> FastAPI:
    s = rt.settings
    CASES.declare_publisher(rt.broker, s)
    BatchConsumer(SERVICE, THRESHOLDS, on_thresholds(s, rt.clock), pool=rt.pool, broker=rt.broker, settings=s,
                  health=rt.health).subscribe("opens, notes and closes award and revocation cases on threshold events")
    eligibility = httpx.AsyncClient(base_url=s.eligibility_url.rstrip("/"), timeout=5)
    notify = httpx.AsyncClient(base_url=s.notify_url.rstrip("/"), timeout=5)
    rt.on_stop += [eligibility.aclose, notify.aclose]
    rt.background["timers"] = lambda beat: workers.run_timers(rt.pool, s.timer_poll_s, beat, rt.clock)
    rt.background["evidence"] = lambda beat: workers.record_evidence(rt.pool, eligibility, 1.0, beat)
    app = new_app(SERVICE, "Review cases and reviewers' decisions. Every endpoint but health needs a reviewer token.")
    install_refusals(app)
    app.include_router(cases_router(rt.pool, registry(), s, eligibility, rt.clock))
    app.include_router(plaques_router(rt.pool, notify, s.admin_token))
    app.include_router(console_router())
    app.include_router(ops_router(SERVICE, rt.pool, rt.broker, rt.health))
    return app
