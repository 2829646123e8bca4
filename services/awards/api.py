"""Awards' HTTP API for reviewers: the queue, a case with its history and evidence, claim, hand-over, decide."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
import httpx
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.awards import domain, handlers, repository, workers
from services.awards.auth import Reviewer, reviewer_dependency
from services.awards.handlers import Clock, DecisionIn
from shared.authorities import Registry
from shared.settings import Settings

Status = Literal["open", "claimed", "decided", "closed"]


class CaseView(BaseModel):
    case_id: UUID
    authority_id: str
    authority_name: str
    authority_display_name: str = Field(description="addition: the name with its kind, e.g. `Landkreis Kitzingen`")
    authority_kind: str = Field(description="addition")
    district: str | None = Field(description="addition: Landkreis")
    region: str | None = Field(description="addition: Regierungsbezirk")
    kind: Literal["award", "revocation"]
    status: Status = Field(description="`closed` (an addition): closed without a decision, e.g. count recovered")
    count: int = Field(description="the count when the case opened")
    current_count: int | None = Field(description="addition: the latest count announced by eligibility")
    threshold: int | None = Field(description="addition")
    eligible: bool | None = Field(description="addition: whether the count is at or above the threshold now")
    opened_at: datetime
    claimed_by: str | None
    decision: str | None
    reason: str | None = Field(description="addition: the reason of a decision, or why the case closed")
    decided_by: str | None = Field(description="addition")
    decided_at: datetime | None = Field(description="addition: when it was decided or closed")
    award_number: str | None = Field(description="addition: the award a revocation case concerns")


class Action(BaseModel):
    action: str
    actor: str
    reason: str | None
    count: int | None
    at: datetime


class Procedure(BaseModel):
    id: str
    name: str | None
    scope: str | None
    linked_at: datetime | None = Field(description="counted since")


class Evidence(BaseModel):
    procedures_at_opening: list[Procedure] | None = Field(
        description="the counted procedures when the case opened; null until eligibility was asked"
    )
    evidence_at: datetime | None = Field(description="when that list was read from eligibility")
    procedures_now: list[Procedure] | None = Field(description="the counted procedures now; null if unavailable")
    added: list[Procedure] = Field(description="counted now, not at opening")
    removed: list[Procedure] = Field(description="counted at opening, not now")


class CaseDetail(CaseView, Evidence):
    history: list[Action]


class CasePage(BaseModel):
    items: list[CaseView]
    total: int


class DecisionBody(BaseModel):
    decision: Literal["approve", "reject", "revoke", "keep"]
    reason: str | None = Field(None, max_length=2_000)


class AssignBody(BaseModel):
    reviewer: str = Field(min_length=1, max_length=100)


class ReviewerLoad(BaseModel):
    name: str
    lead: bool
    active: bool
    claimed: int = Field(description="cases this reviewer has claimed and not yet decided")


def view(row: asyncpg.Record | dict[str, Any], registry: Registry) -> CaseView:
    a = registry.get(row["authority_id"])
    return CaseView(
        authority_name=a.name if a else row["authority_id"],
        authority_display_name=a.display_name if a else row["authority_id"],
        authority_kind=a.kind if a else "unbekannt",
        district=a.district if a else None,
        region=a.region if a else None,
        **{k: row[k] for k in CaseView.model_fields if k in row.keys()},
    )


def evidence(row: asyncpg.Record, now: list[dict[str, Any]] | None) -> Evidence:
    at_opening = row["procedures_at_opening"]
    before = [Procedure(**p) for p in (at_opening if isinstance(at_opening, list) else _json(at_opening) or [])]
    after = [Procedure(**p) for p in now] if now is not None else None
    ids_before = {p.id for p in before}
    ids_after = {p.id for p in after or []}
    return Evidence(
        procedures_at_opening=before if at_opening is not None else None,
        evidence_at=row["evidence_at"],
        procedures_now=after,
        added=[p for p in after or [] if p.id not in ids_before] if at_opening is not None else [],
        removed=[p for p in before if p.id not in ids_after] if after is not None else [],
    )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def install_refusals(app: FastAPI) -> None:
    """Domain refusals become status codes here, with the rule's German message as the detail."""

    @app.exception_handler(domain.Refused)
    async def refused(_: Request, exc: domain.Refused) -> JSONResponse:
        status = 404 if isinstance(exc, domain.NotFound) else 422 if isinstance(exc, domain.Invalid) else 409
        body: dict[str, Any] = {"detail": exc.message}
        if exc.field:
            body["errors"] = [{"field": exc.field, "message": exc.message}]
        return JSONResponse(body, status)


def matching(registry: Registry, q: str | None, authority_id: str | None) -> list[str] | None:
    """Authority keys whose key starts with, or whose name (with its kind) contains, the search text."""
    ids = [authority_id] if authority_id else None
    needle = (q or "").strip().casefold()
    if not needle:
        return ids
    found = [a.key for a in registry if a.key.startswith(needle) or needle in f"{a.kind_label} {a.name}".casefold()]
    return [i for i in found if ids is None or i in ids]


async def case_detail(pool: asyncpg.Pool, registry: Registry, http: httpx.AsyncClient, case_id: UUID) -> CaseDetail:
    """A case with its history and evidence: what was counted when it opened beside what eligibility counts now."""
    row = await repository.case(pool, case_id)
    if row is None:
        raise domain.NotFound("Diesen Fall gibt es nicht.")
    history = [Action(**dict(a)) for a in await repository.actions(pool, case_id)]
    now = await workers.counted_now(http, row["authority_id"])
    return CaseDetail(**view(row, registry).model_dump(), **evidence(row, now).model_dump(), history=history)


def cases_router(pool: asyncpg.Pool, registry: Registry, settings: Settings, http: httpx.AsyncClient,
                 clock: Clock = handlers.utcnow) -> APIRouter:
    reviewer = Depends(reviewer_dependency(pool))
    router = APIRouter(tags=["review cases"], responses={401: {"description": "no or bad token"}})

    async def detail(case_id: UUID) -> CaseDetail:
        return await case_detail(pool, registry, http, case_id)

    @router.get("/v1/cases", response_model=CasePage)
    async def list_cases(
        _: Reviewer = reviewer,
        status: Status | None = None,
        kind: Literal["award", "revocation"] | None = None,
        authority_id: Annotated[str | None, Query(max_length=20)] = None,
        q: Annotated[str | None, Query(max_length=100, description="addition: name or key of the authority")] = None,
        claimed_by: Annotated[str | None, Query(max_length=100, description="addition")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> CasePage:
        ids = matching(registry, q, authority_id)
        rows, total = await repository.list_cases(
            pool, status=status, kind=kind, authority_ids=ids, claimed_by=claimed_by, limit=limit, offset=offset
        )
        return CasePage(items=[view(r, registry) for r in rows], total=total)

    @router.get("/v1/cases/{case_id}", response_model=CaseDetail, responses={404: {"description": "no such case"}})
    async def get_case(case_id: UUID, _: Reviewer = reviewer) -> CaseDetail:
        return await detail(case_id)

    @router.post(
        "/v1/cases/{case_id}/decision",
        response_model=CaseDetail,
        responses={404: {}, 409: {"description": "decided, not the claimant, below threshold (approve) or at it (revoke)"},
                   422: {}},
    )
    async def decide(case_id: UUID, body: DecisionBody, me: Reviewer = reviewer) -> CaseDetail:
        await handlers.decide_case(pool, case_id, me.name, DecisionIn(body.decision, body.reason), settings, clock)
        return await detail(case_id)

    @router.post("/v1/authorities/{authority_id}/cases", response_model=CaseDetail, status_code=201,
                 responses={404: {"description": "unknown authority"},
                            409: {"description": "below its threshold, a case is open, or it holds the award"}})
    async def open_case(authority_id: Annotated[str, Path(max_length=20)], me: Reviewer = reviewer) -> CaseDetail:
        case_id = await handlers.open_by_hand(pool, authority_id, me.name, authority_id in registry, clock)
        return await detail(case_id)

    return router


def handover_router(pool: asyncpg.Pool, registry: Registry, http: httpx.AsyncClient,
                    clock: Clock = handlers.utcnow) -> APIRouter:
    """Who works on a case: claim it, hand it back, or (a lead) give it to someone."""
    reviewer = Depends(reviewer_dependency(pool))
    router = APIRouter(tags=["review cases"], responses={401: {"description": "no or bad token"}})

    async def detail(case_id: UUID) -> CaseDetail:
        return await case_detail(pool, registry, http, case_id)

    @router.post("/v1/cases/{case_id}/claim", response_model=CaseDetail,
                 responses={404: {}, 409: {"description": "held by another reviewer or decided"}})
    async def claim(case_id: UUID, me: Reviewer = reviewer) -> CaseDetail:
        await handlers.claim_case(pool, case_id, me.name, clock)
        return await detail(case_id)

    @router.post("/v1/cases/{case_id}/release", response_model=CaseDetail,
                 responses={404: {}, 409: {"description": "not claimed, decided, or neither claimant nor lead"}})
    async def release(case_id: UUID, me: Reviewer = reviewer) -> CaseDetail:
        await handlers.release_case(pool, case_id, me.name, me.lead, clock)
        return await detail(case_id)

    @router.post("/v1/cases/{case_id}/assign", response_model=CaseDetail,
                 responses={404: {}, 409: {"description": "not a lead, or decided"}, 422: {"description": "no such reviewer"}})
    async def assign(case_id: UUID, body: AssignBody, me: Reviewer = reviewer) -> CaseDetail:
        await handlers.assign_case(pool, case_id, me.name, me.lead, body.reviewer.strip(), clock)
        return await detail(case_id)

    return router


def reviewers_router(pool: asyncpg.Pool) -> APIRouter:
    reviewer = Depends(reviewer_dependency(pool))
    router = APIRouter(tags=["reviewers"], responses={401: {"description": "no or bad token"}})

    @router.get("/v1/reviewers", response_model=list[ReviewerLoad], responses={403: {"description": "not a lead"}})
    async def reviewers(me: Reviewer = reviewer) -> list[ReviewerLoad]:
        """addition: every reviewer with the number of cases they hold (for leads)."""
        if not me.lead:
            raise HTTPException(403, detail="Nur eine Leitung sieht die Fälle aller Prüfenden.")
        load = {r["reviewer"]: r["cases"] for r in await repository.claimed_by_reviewer(pool)}
        return [ReviewerLoad(name=r["name"], lead=r["lead"], active=r["revoked_at"] is None, claimed=load.get(r["name"], 0))
                for r in await repository.reviewers(pool)]

    @router.get("/v1/me", summary="the reviewer the token belongs to", responses={401: {}})
    async def who(me: Reviewer = reviewer) -> dict[str, Any]:
        return {"name": me.name, "lead": me.lead}

    return router
