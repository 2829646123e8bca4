"""Builders of portal changes and events with sensible defaults."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import Procedure, ProcedureLinked, ProcedureUnlinked
from shared.events.portal import ProcedureId

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
_seq = itertools.count(1)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def procedure(pid: str, *, kind: str = "online", scope: str = "municipal", name: str | None = None) -> dict[str, Any]:
    return {
        "id": pid,
        "name": name or f"Verfahren {pid}",
        "scope": scope,
        "kind": kind,
        "url": f"https://example.invalid/{pid}",
        "leika_key": "99102013104000",
    }


def change(
    authority_id: str,
    pid: str,
    *,
    action: str = "linked",
    minute: int = 0,
    change_id: str | None = None,
    **proc: Any,
) -> dict[str, Any]:
    return {
        "change_id": change_id or f"bp-{next(_seq):06d}-{uuid.uuid4().hex[:6]}",
        "occurred_at": at(minute),
        "action": action,
        "authority_id": authority_id,
        "procedure": procedure(pid, **proc) if action == "linked" else {"id": pid},
    }


def links(authority_id: str, n: int, *, start: int = 0, minute: int = 0, **proc: Any) -> list[dict[str, Any]]:
    return [change(authority_id, f"p-{i}", minute=minute, **proc) for i in range(start, start + n)]


def linked_event(authority_id: str, pid: str, *, minute: int = 0, **proc: Any) -> ProcedureLinked:
    return ProcedureLinked(
        authority_id=authority_id,
        correlation_id="test",
        occurred_at=T0 + timedelta(minutes=minute),
        change_id=f"c-{uuid.uuid4().hex[:8]}",
        procedure=Procedure.model_validate(procedure(pid, **proc)),
    )


def unlinked_event(authority_id: str, pid: str, *, minute: int = 0) -> ProcedureUnlinked:
    return ProcedureUnlinked(
        authority_id=authority_id,
        correlation_id="test",
        occurred_at=T0 + timedelta(minutes=minute),
        change_id=f"c-{uuid.uuid4().hex[:8]}",
        procedure=ProcedureId(id=pid),
    )
