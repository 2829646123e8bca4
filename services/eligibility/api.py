"""Eligibility's HTTP API: each authority's count, threshold and linked procedures."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from services.eligibility import domain, repository
from services.eligibility.domain import Standing
from shared.authorities import Authority, Registry


class LinkedProcedure(BaseModel):
    id: str
    name: str | None
    scope: str | None
    kind: str | None = Field(description="addition: `online`, `information` or `print_form`")
    counted: bool = Field(description="addition: whether it counts towards the threshold")
    linked_at: datetime | None
    url: str | None = Field(None, description="addition: where the procedure is offered")


class AuthorityView(BaseModel):
    authority_id: str
    name: str
    kind: str
    district: str | None = Field(description="addition: Landkreis")
    region: str = Field(description="addition: Regierungsbezirk")
    count: int
    threshold: int
    eligible: bool


class AuthorityDetail(AuthorityView):
    procedures: list[LinkedProcedure]


class AuthorityPage(BaseModel):
    items: list[AuthorityView]
    total: int


class Suggestion(BaseModel):
    id: str
    name: str | None
    scope: str | None
    peers_linking: int = Field(description="how many of the peers count it")


class Advice(BaseModel):
    """What to link next: the procedures most often counted by comparable authorities that this one does not count."""

    level: domain.Level = Field(description="`district` (its Landkreis), `region` (Regierungsbezirk) or `state`")
    area: str = Field(description="the name of the Landkreis or Regierungsbezirk, or `Bayern`")
    peer_group: domain.PeerGroup = Field(description="who it is compared with (Gemeinden, Märkte and Städte together)")
    peers: int = Field(description="how many comparable authorities there are at that level")
    items: list[Suggestion]


def _view(a: Authority, s: Standing | None, threshold: int) -> AuthorityView:
    count = s.count if s else 0
    return AuthorityView(
        authority_id=a.key, name=a.name, kind=a.kind, district=a.district, region=a.region,
        count=count, threshold=threshold, eligible=domain.is_eligible(count, threshold),
    )


def authorities_router(pool: asyncpg.Pool, registry: Registry, threshold_of) -> APIRouter:  # noqa: ANN001
    router = APIRouter(prefix="/v1/authorities", tags=["authorities"])

    @router.get("/{authority_id}", response_model=AuthorityDetail, responses={404: {"description": "unknown key"}})
    async def get_authority(authority_id: str) -> AuthorityDetail:
        authority = registry.get(authority_id)
        if authority is None:
            raise HTTPException(404, detail=f"unknown authority key {authority_id!r}")
        standing = await repository.standing(pool, authority_id)
        rows = await repository.linked_procedures(pool, authority_id)
        view = _view(authority, standing, threshold_of(authority_id))
        procedures = [
            LinkedProcedure(id=r["procedure_id"], name=r["name"], scope=r["scope"], kind=r["kind"],
                            counted=r["counted"], linked_at=r["linked_at"], url=r["url"])
            for r in rows
        ]
        return AuthorityDetail(**view.model_dump(), procedures=procedures)

    @router.get("/{authority_id}/advice", response_model=Advice, responses={404: {"description": "unknown key"}},
                summary="addition: what to link next, from what comparable authorities count")
    async def get_advice(authority_id: str, limit: Annotated[int, Query(ge=1, le=50)] = 10) -> Advice:
        authority = registry.get(authority_id)
        if authority is None:
            raise HTTPException(404, detail=f"unknown authority key {authority_id!r}")
        for level, group in domain.advice_levels(authority, registry):
            rows = await repository.advice(pool, authority_id, [a.key for a in group], limit)
            if len(rows) >= limit or level == "state":
                area = {"district": authority.district, "region": authority.region, "state": "Bayern"}[level]
                return Advice(level=level, area=area or "Bayern", peer_group=domain.peer_group(authority.kind),
                              peers=len(group), items=[Suggestion(id=r["procedure_id"], name=r["name"],
                                                                  scope=r["scope"], peers_linking=r["peers_linking"])
                                                       for r in rows])
        raise AssertionError("the state level always answers")

    @router.get("", response_model=AuthorityPage)
    async def list_authorities(
        eligible: bool | None = None,
        min_count: Annotated[int | None, Query(ge=0)] = None,
        region: Annotated[str | None, Query(max_length=100, description="Regierungsbezirk name or key")] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> AuthorityPage:
        if region is not None:
            bezirk = registry.get(region)
            region = bezirk.region if bezirk and bezirk.kind == "bezirk" else region
            if region not in registry.regions:
                raise HTTPException(422, detail=f"unknown region {region!r}; one of {registry.regions}")
        standings = await repository.all_standings(pool)
        views = [_view(a, standings.get(a.key), threshold_of(a.key)) for a in registry]
        views = [
            v for v in views
            if (eligible is None or v.eligible == eligible)
            and (min_count is None or v.count >= min_count)
            and (region is None or v.region == region)
        ]
        views.sort(key=lambda v: (-v.count, v.authority_id))
        return AuthorityPage(items=views[offset : offset + limit], total=len(views))

    return router
