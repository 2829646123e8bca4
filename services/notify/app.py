"""The notify service: case events in; emails out; the public site, signet, verify page and plaques."""

from __future__ import annotations

from pathlib import Path

from services.notify.api import notifications_router
from services.notify.handlers import on_case_events
from services.notify.mail import run_mailer, smtp_in_clear
from services.notify.plaque import plaque_router, plaques_admin_router
from services.notify.transparency import Eligibility, authorities_router, statistics_router
from services.notify.web import install_error_pages, public_router
from shared.authorities import registry
from shared.kernel import Consumes, Service
from shared.runtime import Runtime
from shared.settings import weak_secret
from shared.topics import CASES, NOTIFICATIONS


def routers(rt: Runtime) -> list:
    s, authorities, eligibility = rt.settings, registry(), Eligibility(rt.clients["eligibility"])
    return [
        public_router(rt.pool, authorities, s),
        authorities_router(rt.pool, authorities, eligibility),
        statistics_router(rt.pool, authorities, s, eligibility),
        plaque_router(rt.pool, authorities),
        plaques_admin_router(rt.pool, authorities, s.admin_token),
        notifications_router(rt.pool, s.admin_token),
    ]


NOTIFY = Service(
    name="notify",
    description="Emails to authorities, the public listing, the signet and its verification, plaques.",
    migrations=Path(__file__).parent / "migrations",
    consumes=(Consumes(CASES, lambda _: on_case_events(), "one email per case event; keeps the public listing"),),
    publishes=(NOTIFICATIONS,),
    clients={"eligibility": lambda s: s.eligibility_url},
    routers=routers,
    workers=lambda rt: {"mailer": lambda beat: run_mailer(rt.pool, rt.settings, rt.connect, beat)},
    install=install_error_pages,
    refuses=lambda s: weak_secret(s, "ADMIN_TOKEN") + smtp_in_clear(s),
)

SERVICE, MIGRATIONS, build = NOTIFY.name, NOTIFY.migrations, NOTIFY.build
