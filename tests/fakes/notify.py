"""Notify's case store in memory: holders, open reviews, plaque requests, queued notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID


@dataclass
class Holder:
    authority_id: str
    awarded_at: date
    revoked_at: date | datetime | None = None
    imported: bool = False


class Cases:
    def __init__(self) -> None:
        self.holders: dict[str, Holder] = {}  # by award number
        self.reviews: dict[str, tuple[UUID, str]] = {}  # authority -> (case, kind)
        self.plaques: dict[str, str] = {}  # award number -> token hash
        self.notifications: dict[UUID, tuple[str, str, dict[str, Any]]] = {}  # event id -> (authority, type, payload)
        self.wakes = 0

    def _holds(self, authority_id: str) -> bool:
        return any(h.authority_id == authority_id and h.revoked_at is None for h in self.holders.values())

    async def grant(self, conn: Any, award_number: str, authority_id: str, case_id: UUID, awarded_at: date) -> bool:  # noqa: ARG002
        if award_number in self.holders or self._holds(authority_id):  # both unique indexes of the real table
            return False
        self.holders[award_number] = Holder(authority_id, awarded_at)
        return True

    async def revoke(self, conn: Any, award_number: str, at: datetime, reason: str) -> None:  # noqa: ARG002
        if (h := self.holders.get(award_number)) and h.revoked_at is None:
            h.revoked_at = at

    async def import_holder(self, conn: Any, award_number: str, authority_id: str, awarded_at: date,  # noqa: ARG002
                            revoked_at: date | None) -> None:
        if award_number not in self.holders and (revoked_at is not None or not self._holds(authority_id)):
            self.holders[award_number] = Holder(authority_id, awarded_at, revoked_at, imported=True)

    async def review_opened(self, conn: Any, authority_id: str, case_id: UUID, kind: str, at: datetime) -> None:  # noqa: ARG002
        self.reviews[authority_id] = (case_id, kind)

    async def review_ended(self, conn: Any, case_id: UUID) -> None:  # noqa: ARG002
        self.reviews = {a: r for a, r in self.reviews.items() if r[0] != case_id}

    async def add_plaque(self, conn: Any, award_number: str, authority_id: str, token_hash: str) -> None:  # noqa: ARG002
        self.plaques.setdefault(award_number, token_hash)

    async def add_notification(self, conn: Any, event_id: UUID, authority_id: str, event_type: str,  # noqa: ARG002
                               payload: dict[str, Any]) -> None:
        self.notifications.setdefault(event_id, (authority_id, event_type, payload))

    async def wake_mailer(self, conn: Any) -> None:  # noqa: ARG002
        self.wakes += 1

    def listed(self) -> set[str]:
        return {h.authority_id for h in self.holders.values() if h.revoked_at is None}
