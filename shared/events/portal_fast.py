"""A faster reader of `portal.procedure-links.v1` for its hot consumer, a strict subset of the contract.

pydantic (`shared.events.portal`) is the contract. It checks a link event in about 16 µs; msgspec decodes and checks
the same types and limits in about a third of that, and eligibility reads tens of thousands per second. This reader
may only ever accept less than the contract: it has no patterns (a batch whose bytes hold a NUL, escaped or raw, is
left to pydantic, which refuses NUL characters field by field), its numbers and times are strict JSON and RFC 3339,
and whatever it refuses, the caller hands to pydantic, which decides. A property test
(`tests/unit/shared/test_portal_fast.py`) checks that what it accepts, pydantic accepts with the same values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from shared.events.portal import PROCEDURE_ID_MAX

ProcedureIdText = Annotated[str, Meta(min_length=1, max_length=PROCEDURE_ID_MAX)]
AwareTime = Annotated[datetime, Meta(tz=True)]


class FastProcedure(Struct, frozen=True):
    id: ProcedureIdText
    name: Annotated[str, Meta(min_length=1, max_length=500)]
    scope: Annotated[str, Meta(min_length=1, max_length=50)]
    kind: Literal["online", "information", "print_form"]
    url: Annotated[str, Meta(max_length=2000)] | None = None
    leika_key: Annotated[str, Meta(max_length=20)] | None = None


class FastProcedureId(Struct, frozen=True):
    id: ProcedureIdText


class _LinkEvent(Struct, frozen=True, kw_only=True, tag_field="event_type"):
    """The envelope as msgspec reads it (the contract's field names); `event_type` is the tag."""

    event_id: UUID
    occurred_at: AwareTime
    authority_id: str
    correlation_id: str
    change_id: str
    event_version: int = 1

    @property
    def event_type(self) -> str:
        return str(type(self).__struct_config__.tag)


class FastLinked(_LinkEvent, tag="ProcedureLinked"):
    procedure: FastProcedure


class FastUnlinked(_LinkEvent, tag="ProcedureUnlinked"):
    procedure: FastProcedureId


_BATCH = msgspec.json.Decoder(list[FastLinked | FastUnlinked])
# Left to pydantic: any `\u` escape (a NUL, which the contract refuses in every text field; a surrogate, which it
# refuses anywhere in the document and msgspec only in the fields it reads; an escaped key), a raw NUL, and a time
# finer than microseconds (msgspec rounds it, pydantic cuts it off). Our producers write none of them.
_UNSURE = (b"\\u", b"\x00")
_FINER_THAN_MICROSECONDS = re.compile(rb'"occurred_at"\s*:\s*"[^"]*\.[0-9]{7}')


def decode_links(batch: bytes) -> Sequence[FastLinked | FastUnlinked] | None:
    """A JSON array of link events, each as the contract would read it; None: let pydantic decide."""
    if any(unsure in batch for unsure in _UNSURE) or _FINER_THAN_MICROSECONDS.search(batch):
        return None
    if not batch.isascii():  # bytes that are not UTF-8 anywhere, also in a field that msgspec skips
        try:
            batch.decode()
        except UnicodeDecodeError:
            return None
    try:
        return _BATCH.decode(batch)
    except Exception:  # noqa: BLE001 - refused, or a surprise of the fast reader: pydantic, the contract, decides
        return None
