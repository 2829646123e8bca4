"""The awards service: threshold events in, case events out, timers, evidence, the reviewers' API and console."""

from __future__ import annotations

from pathlib import Path

from services.awards import workers
from services.awards.api import cases_router, handover_router, install_refusals, reviewers_router
from services.awards.console import console_router
from services.awards.handlers import on_thresholds, on_undeliverable
from services.awards.plaques import plaques_router
from shared.authorities import registry
from shared.kernel import Consumes, Service
from shared.runtime import Runtime
from shared.settings import weak_secret
from shared.topics import CASES, NOTIFICATIONS, THRESHOLDS


def routers(rt: Runtime) -> list:
    s, eligibility, notify = rt.settings, rt.clients["eligibility"], rt.clients["notify"]
    return [cases_router(rt.pool, registry(), s, eligibility, rt.clock),
            handover_router(rt.pool, registry(), eligibility, rt.clock), reviewers_router(rt.pool),
            plaques_router(rt.pool, notify, s.admin_token), console_router()]


AWARDS = Service(
    name="awards",
    description="Review cases and reviewers' decisions. Every endpoint but health needs a reviewer token.",
    migrations=Path(__file__).parent / "migrations",
    consumes=(
        Consumes(THRESHOLDS, lambda rt: on_thresholds(rt.settings, rt.clock),
                 "opens, notes and closes award and revocation cases on threshold events"),
        Consumes(NOTIFICATIONS, lambda _: on_undeliverable,
                 "notes in the case history an email that notify could not deliver"),
    ),
    publishes=(CASES,),
    clients={"eligibility": lambda s: s.eligibility_url, "notify": lambda s: s.notify_url},
    routers=routers,
    workers=lambda rt: {
        "timers": lambda beat: workers.run_timers(rt.pool, rt.settings.timer_poll_s, beat, rt.clock),
        "evidence": lambda beat: workers.record_evidence(rt.pool, rt.clients["eligibility"], 1.0, beat),
    },
    install=install_refusals,
    refuses=lambda s: weak_secret(s, "ADMIN_TOKEN"),
)

SERVICE, MIGRATIONS, build = AWARDS.name, AWARDS.migrations, AWARDS.build
