"""The portal's request bodies, and their validation into precise per-change errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from services.ingest.domain import Change
from shared.authorities import Registry
from shared.events import Procedure, ProcedureId
from shared.events.portal import NUL_PATTERN, Text

MAX_CHANGES = 5_000
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_AHEAD = timedelta(minutes=5)  # clocks differ; a change dated further ahead is refused


class _ChangeBase(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    change_id: Text = Field(min_length=1, max_length=200)
    occurred_at: AwareDatetime
    authority_id: Text = Field(min_length=1, max_length=20)


class LinkedChange(_ChangeBase):
    action: Literal["linked"]
    procedure: Procedure


class UnlinkedChange(_ChangeBase):
    action: Literal["unlinked"]
    procedure: ProcedureId


ChangeIn = Annotated[LinkedChange | UnlinkedChange, Field(discriminator="action")]
_change = TypeAdapter(ChangeIn)


class ChangesIn(BaseModel):
    """`POST /v1/portal/changes`: the fast path validates the whole body in one pass."""

    changes: list[ChangeIn] = Field(description="portal changes, at most 5,000; see CONTRACT.md")


class RawChangesIn(BaseModel):
    """The same body item by item, to name every invalid change."""

    changes: list[dict[str, Any]]


class SnapshotIn(BaseModel):
    """`PUT /v1/portal/authorities/{authority_id}/procedures`: the body names its authority, so that a signed
    snapshot cannot be replayed against another one."""

    authority_id: Text = Field(min_length=1, max_length=20, description="must equal the authority in the path")
    as_of: AwareDatetime
    procedures: list[dict[str, Any]]


def field_errors(exc: ValidationError, index: int | None, tags: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"] if p not in tags]
        if err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            loc = ["action"]
        message = err["msg"]
        if err["type"] == "union_tag_invalid":
            message = "action must be 'linked' or 'unlinked'"
        if err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == NUL_PATTERN:
            message = "must not contain NUL characters"
        out.append({"index": index, "field": ".".join(loc) or "body", "message": message})
    return out


def parse_body(
    body: bytes, registry: Registry, now: datetime | None = None
) -> tuple[list[Change], list[dict[str, Any]]] | None:
    """The whole batch when it is valid JSON of valid changes; None when it needs the item-by-item path."""
    try:
        parsed = ChangesIn.model_validate_json(body).changes
    except ValidationError:
        return None
    latest = latest_allowed(now)
    errors = [e for i, c in enumerate(parsed) for e in _checks(c, i, registry, latest)]
    return ([] if errors else [to_change(c) for c in parsed]), errors


def latest_allowed(now: datetime | None = None) -> datetime:
    """A change dated after this is refused: it would win over every real change for good."""
    return (now or datetime.now(UTC)) + MAX_AHEAD


def future_error(field: str, at: datetime, index: int | None, latest: datetime) -> list[dict[str, Any]]:
    if at <= latest:
        return []
    return [{"index": index, "field": field,
             "message": f"{at.isoformat()} is more than {MAX_AHEAD.seconds // 60} minutes after the server's clock"}]


def _checks(c: LinkedChange | UnlinkedChange, index: int, registry: Registry, latest: datetime) -> list[dict[str, Any]]:
    return _authority_error(c.authority_id, index, registry) + future_error("occurred_at", c.occurred_at, index, latest)


def to_change(c: LinkedChange | UnlinkedChange) -> Change:
    return Change(c.change_id, c.occurred_at, c.action, c.authority_id, c.procedure.model_dump(mode="json"))


def parse_changes(
    raw: list[Any], registry: Registry, now: datetime | None = None
) -> tuple[list[Change], list[dict[str, Any]]]:
    """Every change validated; the errors name each invalid change's index and field."""
    changes: list[Change] = []
    errors: list[dict[str, Any]] = []
    latest = latest_allowed(now)
    for i, item in enumerate(raw):
        try:
            parsed = _change.validate_python(item)
        except ValidationError as exc:
            errors += field_errors(exc, i, tags=("linked", "unlinked"))
            if isinstance(item, dict) and isinstance(item.get("authority_id"), str):
                errors += _authority_error(item["authority_id"], i, registry)
            continue
        if err := _checks(parsed, i, registry, latest):
            errors += err
            continue
        changes.append(to_change(parsed))
    return changes, errors


def parse_procedures(raw: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    procedures: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        try:
            p = Procedure.model_validate(item)
        except ValidationError as exc:
            errors += [{**e, "field": f"procedures.{e['field']}"} for e in field_errors(exc, i)]
            continue
        if p.id in seen:
            errors.append({"index": i, "field": "procedures.id", "message": f"procedure {p.id!r} listed twice"})
        seen.add(p.id)
        procedures.append(p.model_dump(mode="json"))
    return procedures, errors


def _authority_error(key: str, index: int, registry: Registry) -> list[dict[str, Any]]:
    if key in registry:
        return []
    return [{"index": index, "field": "authority_id", "message": f"unknown authority key {key!r}"}]
