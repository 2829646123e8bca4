"""The eligibility service: link events in, threshold events out, the authorities API."""

from __future__ import annotations

from pathlib import Path

from services.eligibility.api import authorities_router
from services.eligibility.handlers import on_procedure_links, threshold_of
from shared.authorities import registry
from shared.events.portal_fast import decode_links
from shared.kernel import Consumes, Service
from shared.topics import PROCEDURE_LINKS, THRESHOLDS

ELIGIBILITY = Service(
    name="eligibility",
    description="Running count of online procedures per authority; threshold crossings.",
    migrations=Path(__file__).parent / "migrations",
    consumes=(
        Consumes(
            PROCEDURE_LINKS,
            lambda rt: on_procedure_links(rt.settings),
            "counts distinct counted procedures per authority; announces threshold crossings",
            dedupe_event_ids=False,  # idempotent by state: a link row keeps the latest change it applied
            members=lambda s: s.eligibility_consumers,
            decode=decode_links,  # msgspec where it may, pydantic for the rest: the hot path
        ),
    ),
    publishes=(THRESHOLDS,),
    routers=lambda rt: [authorities_router(rt.pool, registry(), threshold_of(rt.settings))],
)

SERVICE, MIGRATIONS, build = ELIGIBILITY.name, ELIGIBILITY.migrations, ELIGIBILITY.build
