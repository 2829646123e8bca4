"""The fast reader of link events accepts only what the contract (pydantic) accepts, with the same values."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from shared.events import ProcedureLinked
from shared.events.portal_fast import FastLinked, decode_links
from shared.topics import PROCEDURE_LINKS

CONTRACT: TypeAdapter[list[Any]] = TypeAdapter(list[PROCEDURE_LINKS.message_type])  # type: ignore[name-defined]
MISSING = object()

texts = st.one_of(
    st.text(max_size=3),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=30),
    st.sampled_from(["a" * 20, "a" * 21, "ä" * 50, "ä" * 51, "x" * 200, "x" * 201, "ß" * 500, "ß" * 501,
                     "a\x00b", "\ud800", "p-1", "09675141"]),
)
values = st.one_of(texts, st.integers(-2, 2), st.none(), st.floats(allow_nan=False), st.booleans(), st.just(MISSING))
times = st.one_of(
    st.sampled_from(["2026-11-20T10:00:00Z", "2026-11-20T10:00:00+01:00", "2026-11-20T10:00:00.123456Z",
                     "2026-11-20T10:00:00.1234567Z", "2026-11-20T10:00:00", "2026-11-20", "2026-11-20 10:00:00Z",
                     "2026-13-20T10:00:00Z", "2026-11-20T10:00:00-00:00", "2026-11-20T24:00:00Z"]),
    st.integers(0, 2_000_000_000), values,
)
ids = st.one_of(st.uuids().map(str), st.uuids().map(lambda u: u.hex), st.uuids().map(lambda u: str(u).upper()),
                st.uuids().map(lambda u: "{" + str(u) + "}"), st.uuids().map(lambda u: "urn:uuid:" + str(u)), values)


def text(limit: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=limit)


valid_events = st.fixed_dictionaries({
    "event_type": st.sampled_from(["ProcedureLinked", "ProcedureUnlinked"]),
    "event_id": st.uuids().map(str),
    "occurred_at": st.sampled_from(["2026-11-20T10:00:00Z", "2026-11-20T10:00:00.5+01:00",
                                    "2026-11-20T10:00:00.9999999Z", "2026-11-20t10:00:00.1234567-00:00"]),
    "authority_id": text(12), "correlation_id": text(40), "change_id": text(40),
    "procedure": st.fixed_dictionaries(
        {"id": text(30), "name": text(60), "scope": st.just("municipal"),
         "kind": st.sampled_from(["online", "information", "print_form"])},
        optional={"url": st.one_of(text(80), st.none()), "leika_key": st.one_of(text(20), st.none())},
    ),
})
WILD = {
    "event_type": st.one_of(st.just("Other"), values), "event_id": ids, "event_version": values | st.just(1.0),
    "occurred_at": times, "authority_id": values, "correlation_id": values, "change_id": values, "procedure": values,
    "procedure.id": texts, "procedure.name": texts, "procedure.scope": texts,
    "procedure.kind": st.one_of(st.just("Online"), values), "procedure.url": st.one_of(texts, st.just("h" * 2001)),
    "procedure.leika_key": texts, "procedure.extra": values,
}
mutations = st.lists(st.sampled_from(sorted(WILD)).flatmap(lambda k: st.tuples(st.just(k), WILD[k])), max_size=3)


def mutated(event: dict[str, Any], changes: list[tuple[str, Any]]) -> dict[str, Any]:
    """A valid event with up to three fields replaced by anything (or removed: MISSING)."""
    event = {**event, "procedure": dict(event["procedure"])}
    for key, value in changes:
        where, name = (event["procedure"], key.split(".")[1]) if key.startswith("procedure.") else (event, key)
        if isinstance(where, dict):
            where[name] = value
    return event


events = st.builds(mutated, valid_events, mutations)
ACCEPTED: list[int] = []


def body(event: dict[str, Any], ascii_only: bool) -> bytes:
    plain = {k: v for k, v in event.items() if v is not MISSING}
    if isinstance(plain.get("procedure"), dict):
        plain["procedure"] = {k: v for k, v in plain["procedure"].items() if v is not MISSING}
    return ("[" + json.dumps(plain, ensure_ascii=ascii_only) + "]").encode("utf-8", "surrogatepass")


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.booleans())
def test_what_the_fast_reader_accepts_the_contract_accepts_with_the_same_values(event, ascii_only) -> None:
    raw = body(event, ascii_only)
    fast = decode_links(raw)
    if fast is None:
        return  # pydantic decides, as before
    ACCEPTED.append(1)
    try:
        [contract] = CONTRACT.validate_json(raw)
    except ValidationError as exc:
        raise AssertionError(f"the fast reader accepted what the contract refuses: {raw!r}: {exc}") from exc
    [f] = fast
    assert f.event_type == contract.event_type
    for name in ("event_id", "occurred_at", "authority_id", "correlation_id", "change_id", "event_version"):
        assert getattr(f, name) == getattr(contract, name), name
    assert f.occurred_at.utcoffset() == contract.occurred_at.utcoffset()
    fields = ("id", "name", "scope", "kind", "url", "leika_key") if isinstance(f, FastLinked) else ("id",)
    for name in fields:
        assert getattr(f.procedure, name) == getattr(contract.procedure, name), name


def test_the_property_was_about_events() -> None:
    """Run after the property (file order): a good share of its examples were accepted, so it tested something."""
    assert len(ACCEPTED) > 300


def test_valid_events_take_the_fast_path_and_a_nul_leaves_them_to_the_contract() -> None:
    event = ProcedureLinked(
        authority_id="09675141", correlation_id="c", change_id="ch-1",
        procedure={"id": "p-1", "name": "Hundesteuer", "scope": "municipal", "kind": "online"},
    )
    assert decode_links(b"[" + event.to_json() + b"]") is not None
    with_nul = event.model_copy(update={"correlation_id": "c\x00"})
    assert decode_links(b"[" + with_nul.to_json() + b"]") is None
    # bytes that are not UTF-8 in a field neither reads: pydantic refuses the whole document, so must this
    not_utf8 = b'[' + event.to_json()[:-1] + b', "extra": "\xed\xa0\x80"}]'
    assert decode_links(not_utf8) is None
    # a time finer than microseconds: msgspec would round it where pydantic cuts it off
    finer = event.to_json().replace(b'"occurred_at":"', b'"occurred_at":"2026-11-20T10:00:00.9999999Z","x":"')
    assert decode_links(b"[" + finer + b"]") is None


def test_a_surprise_of_the_fast_reader_leaves_the_batch_to_the_contract(monkeypatch) -> None:
    """Whatever the fast reader raises, the batch goes to pydantic; an exception here would stall the partition."""
    from shared.events import portal_fast

    class Surprising:
        def decode(self, batch: bytes) -> Any:
            raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(portal_fast, "_BATCH", Surprising())
    event = ProcedureLinked(
        authority_id="09675141", correlation_id="c", change_id="ch-1",
        procedure={"id": "p-1", "name": "Hundesteuer", "scope": "municipal", "kind": "online"},
    )
    assert decode_links(b"[" + event.to_json() + b"]") is None
