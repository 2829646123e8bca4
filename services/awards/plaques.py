"""Plaque requests in the reviewers' console: notify owns them; awards reaches its operator API with ADMIN_TOKEN
on the reviewer's behalf, so that each service keeps its own tables."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, SecretStr

from services.awards.auth import Reviewer, reviewer_dependency


class Shipped(BaseModel):
    shipped_on: date | None = Field(None, description="default: today")


def plaques_router(pool: Any, notify: httpx.AsyncClient, admin_token: SecretStr | None) -> APIRouter:
    reviewer = Depends(reviewer_dependency(pool))
    router = APIRouter(tags=["plaques"], responses={401: {"description": "no or bad token"},
                                                    503: {"description": "notify cannot be reached"}})

    async def call(method: str, path: str, **kwargs: Any) -> JSONResponse:
        if admin_token is None:
            raise HTTPException(503, detail="Plaketten sind nicht eingerichtet: ADMIN_TOKEN fehlt.")
        headers = {"Authorization": f"Bearer {admin_token.get_secret_value()}"}
        try:
            response = await notify.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise HTTPException(503, detail="Die Plaketten sind derzeit nicht abrufbar (notify antwortet nicht).") from exc
        if response.status_code >= 500 or response.status_code == 401:
            raise HTTPException(503, detail="Die Plaketten sind derzeit nicht abrufbar.")
        return JSONResponse(response.json(), response.status_code)

    @router.get("/v1/plaques", summary="plaque requests (from notify)")
    async def list_plaques(shipped: bool = False, _: Reviewer = reviewer) -> JSONResponse:
        return await call("GET", "/v1/plaques", params={"shipped": str(shipped).lower()})

    @router.post("/v1/plaques/{award_number}/shipped", summary="mark a plaque shipped; notify emails the authority",
                 responses={404: {}, 409: {"description": "not requested yet, or shipped already"}})
    async def mark_shipped(
        award_number: Annotated[str, Path(pattern=r"^DA-\d{4}-\d{5}$")], body: Shipped, me: Reviewer = reviewer
    ) -> JSONResponse:
        payload = {"by": me.name, "shipped_on": body.shipped_on.isoformat() if body.shipped_on else None}
        return await call("POST", f"/v1/plaques/{award_number}/shipped", json=payload)

    return router
