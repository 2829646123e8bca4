"""Notify's operations API: the notifications and their delivery state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, SecretStr

from services.notify import repository
from shared.http import admin_only


class NotificationView(BaseModel):
    event_id: UUID
    authority_id: str
    event_type: str
    status: Literal["pending", "sent", "failed"]
    attempts: int
    last_error: str | None
    has_contact: bool
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    sent_to: str | None


class NotificationPage(BaseModel):
    items: list[NotificationView]
    total: int


def notifications_router(pool: asyncpg.Pool, admin_token: SecretStr | None) -> APIRouter:
    """Operators only (contacts' addresses, the mail server's answers): `Authorization: Bearer <ADMIN_TOKEN>`."""
    router = APIRouter(tags=["notifications (operators)"], dependencies=[Depends(admin_only(admin_token))],
                       responses={401: {"description": "no or bad admin token"},
                                  503: {"description": "ADMIN_TOKEN not configured"}})

    @router.get("/v1/notifications", response_model=NotificationPage)
    async def notifications(
        status: Literal["pending", "sent", "failed"] | None = None,
        authority_id: Annotated[str | None, Query(max_length=20)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> NotificationPage:
        rows, total = await repository.notifications(pool, status=status, authority_id=authority_id, limit=limit, offset=offset)
        return NotificationPage(items=[NotificationView(**dict(r)) for r in rows], total=total)

    return router
