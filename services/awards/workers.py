"""Awards' background work (supervised): timers that ran out, and the evidence of what counted when a case opened."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import structlog

from services.awards import handlers, repository
from shared.supervisor import Beat

log = structlog.get_logger(__name__)


async def run_timers(pool: asyncpg.Pool, every_s: float, beat: Beat, clock: handlers.Clock = handlers.utcnow) -> None:
    """Durable timers: due times are rows; whichever instance looks after they passed runs them."""
    while True:
        if ran := await handlers.run_due_timers(pool, clock):
            log.info("timers_ran", count=ran)
        beat()
        await asyncio.sleep(every_s)


def counted(authority: dict[str, Any]) -> list[dict[str, Any]]:
    """The counted procedures of an authority as eligibility's API describes it: id, name, scope, since when."""
    return [
        {"id": p["id"], "name": p.get("name"), "scope": p.get("scope"), "linked_at": p.get("linked_at")}
        for p in authority.get("procedures", []) if p.get("counted", True)
    ]


async def counted_now(http: httpx.AsyncClient, authority_id: str) -> list[dict[str, Any]] | None:
    """The counted procedures now, from eligibility; None when eligibility does not answer."""
    try:
        response = await http.get(f"/v1/authorities/{authority_id}")
    except httpx.HTTPError as exc:
        log.warning("eligibility_unreachable", error=repr(exc))
        return None
    if response.status_code == 404:
        return []
    if response.status_code != 200:
        log.warning("eligibility_unreachable", status=response.status_code)
        return None
    return counted(response.json())


async def record_evidence(pool: asyncpg.Pool, http: httpx.AsyncClient, every_s: float, beat: Beat) -> None:
    """Record with each new case the procedures that counted when it opened (eligibility's list, read by its API)."""
    while True:
        for case in await repository.without_evidence(pool):
            procedures = await counted_now(http, case["authority_id"])
            if procedures is None:
                break  # eligibility away: the next round tries again
            await repository.save_evidence(pool, case["case_id"], procedures, datetime.now(UTC))
        beat()
        await asyncio.sleep(every_s)
