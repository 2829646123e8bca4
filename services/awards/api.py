"""Awards' HTTP API for reviewers: the queue, one case with its history, claim and decide."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.awards import handlers, repository
from services.awards.auth import reviewer_dependency
from services.awards.handlers import CaseRefused, DecisionIn
from shared.authorities import Registry


class CaseView(BaseModel):
    case_id: UUID
    authority_id: str
    authority_name: str
    authority_kind: str = Field(description="addition")
    district: str | None = Field(description="addition: Landkreis")
    region: str | None = Field(description="addition: Regierungsbezirk")
    kind: Literal["award", "revocation"]
    status: Literal["open", "claimed", "decided"]
    count: int = Field(description="the count when the case opened")
    current_count: int | None = Field(description="addition: the latest count announced by eligibility")
    threshold: int | None = Field(description="addition")
    eligible: bool | None = Field(description="addition: whether the count is at or above the threshold now")
    opened_at: datetime
    claimed_by: str | None
    decision: str | None
    reason: str | None = Field(description="addition")
    decided_by: str | None = Field(description="addition")
    decided_at: datetime | None = Field(description="addition")
    award_number: str | None = Field(description="addition: the award a revocation case concerns")


class Action(BaseModel):
    action: str
    actor: str
    reason: str | None
    count: int | None
    at: datetime


class CaseDetail(CaseView):
    history: list[Action]


class CasePage(BaseModel):
    items: list[CaseView]
    total: int


class DecisionBody(BaseModel):
    decision: Literal["approve", "reject", "revoke", "keep"]
    reason: str | None = Field(None, max_length=2_000)


def view(row: asyncpg.Record, registry: Registry) -> CaseView:
    a = registry.get(row["authority_id"])
    return CaseView(
        authority_name=a.name if a else row["authority_id"],
        authority_kind=a.kind if a else "unbekannt",
        district=a.district if a else None,
        region=a.region if a else None,
        **{k: row[k] for k in CaseView.model_fields if k in row.keys()},
    )


def _refused(exc: CaseRefused) -> JSONResponse:
    r = exc.refusal
    if r.field:
        return JSONResponse({"errors": [{"field": r.field, "message": r.message}], "detail": r.message}, r.status)
    return JSONResponse({"detail": r.message}, r.status)


def cases_router(pool: asyncpg.Pool, registry: Registry) -> APIRouter:
    reviewer = Depends(reviewer_dependency(pool))
    router = APIRouter(prefix="/v1/cases", tags=["review cases"], responses={401: {"description": "no or bad token"}})

    @router.get("", response_model=CasePage)
    async def list_cases(
        _: str = reviewer,
        status: Literal["open", "claimed", "decided"] | None = None,
        kind: Literal["award", "revocation"] | None = None,
        authority_id: Annotated[str | None, Query(max_length=20)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> CasePage:
        rows, total = await repository.list_cases(
            pool, status=status, kind=kind, authority_id=authority_id, limit=limit, offset=offset
        )
        return CasePage(items=[view(r, registry) for r in rows], total=total)

    @router.get("/{case_id}", response_model=CaseDetail, responses={404: {"description": "no such case"}})
    async def get_case(case_id: UUID, _: str = reviewer) -> CaseDetail:
        row = await repository.case(pool, case_id)
        if row is None:
            raise HTTPException(404, detail="no such case")
        history = [Action(**dict(a)) for a in await repository.actions(pool, case_id)]
        return CaseDetail(**view(row, registry).model_dump(), history=history)

    @router.post("/{case_id}/claim", response_model=CaseDetail, responses={404: {}, 409: {"description": "held by another reviewer or decided"}})
    async def claim(case_id: UUID, name: str = reviewer) -> CaseDetail | JSONResponse:
        try:
            await handlers.claim_case(pool, case_id, name)
        except CaseRefused as exc:
            return _refused(exc)
        return await get_case(case_id, name)

    @router.post(
        "/{case_id}/decision",
        response_model=CaseDetail,
        responses={404: {}, 409: {"description": "not the claimant, already decided, or below threshold"}, 422: {}},
    )
    async def decide(case_id: UUID, body: DecisionBody, name: str = reviewer) -> CaseDetail | JSONResponse:
        try:
            await handlers.decide_case(pool, case_id, name, DecisionIn(body.decision, body.reason))
        except CaseRefused as exc:
            return _refused(exc)
        return await get_case(case_id, name)

    return router


def me_router(pool: asyncpg.Pool) -> APIRouter:
    reviewer = Depends(reviewer_dependency(pool))
    router = APIRouter(tags=["review cases"])

    @router.get("/v1/me", summary="the reviewer the token belongs to", responses={401: {}})
    async def me(name: str = reviewer) -> dict[str, str]:
        return {"name": name}

    return router
