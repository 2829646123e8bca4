"""Property tests: whatever arrives, the parsers answer with data or a clear error, never a crash."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.builders import change
from services.ingest.schemas import RawChangesIn, parse_body, parse_changes
from services.ingest.xzufi import Document, XZuFiError, parse
from shared.authorities import registry

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30,
)
fields = st.sampled_from(["change_id", "occurred_at", "action", "authority_id", "procedure"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(json_values, max_size=8))
def test_any_json_list_of_changes_gives_changes_or_errors(items: list) -> None:
    changes, errors = parse_changes(items, registry())
    for e in errors:
        assert 0 <= e["index"] < len(items) and isinstance(e["field"], str) and e["message"]
    if not errors:
        assert len(changes) == len(items)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(fields, json_values), max_size=4))
def test_valid_changes_with_broken_fields_name_the_field(breakage: list) -> None:
    item = change("09675141", "p")
    for field, value in breakage:
        item[field] = value
    changes, errors = parse_changes([item], registry())
    assert (len(changes), bool(errors)) in {(1, False), (0, True)}


authorities = st.sampled_from(["09675141", "09675", "096", "096755616", "09999999", "x"])


@st.composite
def mostly_valid_changes(draw) -> dict:  # noqa: ANN001
    item = change(draw(authorities), draw(st.text(min_size=1, max_size=8)), minute=draw(st.integers(0, 100)))
    for field, value in draw(st.lists(st.tuples(fields, json_values), max_size=1)):
        item[field] = value
    return item


bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps({"changes": v}).encode())
    | st.lists(mostly_valid_changes(), max_size=6).map(lambda items: json.dumps({"changes": items}).encode())
)


@settings(max_examples=300, deadline=None)
@given(bodies)
def test_the_fast_and_the_detailed_path_agree_on_any_body(body: bytes) -> None:
    """The whole-batch parse is an optimisation: it must accept and refuse exactly what the item-by-item path does."""
    fast = parse_body(body, registry())
    try:
        raw = RawChangesIn.model_validate_json(body).changes
    except ValueError:
        assert fast is None, "the fast path accepted a body the detailed path cannot read"
        return
    detailed = parse_changes(raw, registry())
    if fast is None:
        assert detailed[1], f"the fast path refused a body without errors: {body[:200]!r}"
    else:
        assert bool(fast[1]) == bool(detailed[1]), "both refuse, or neither"
        if not fast[1]:  # a refused batch stores nothing, whichever changes in it were valid
            assert fast[0] == detailed[0]


xml_names = st.sampled_from(
    ["schreibe", "loesche", "onlinedienst", "leistung", "zustaendigkeitTransferObjekt", "zustaendigkeit", "id",
     "gebietID", "leistungID", "uebergeordnetesObjektID", "bezeichnung", "link", "typ", "code", "modulText", "x"]
)


@st.composite
def xml_trees(draw, depth: int = 0) -> str:  # noqa: ANN001
    name = draw(xml_names)
    attrs = draw(st.dictionaries(st.sampled_from(["schemeAgencyID", "schemeID", "klasse", "languageCode"]),
                                 st.text(alphabet="abcXYZ09 <&\"'", max_size=6), max_size=2))
    attr_text = "".join(f' {k}="{_esc(v)}"' for k, v in attrs.items())
    if depth >= 3 or draw(st.booleans()):
        return f"<{name}{attr_text}>{_esc(draw(st.text(max_size=12)))}</{name}>"
    children = draw(st.lists(xml_trees(depth + 1), max_size=3))
    return f"<{name}{attr_text}>{''.join(children)}</{name}>"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


@settings(max_examples=400, deadline=None)
@given(st.lists(xml_trees(), max_size=4))
def test_any_xzufi_like_document_is_read_or_refused_clearly(children: list[str]) -> None:
    xml = ('<r xmlns="http://xoev.de/schemata/xzufi/2_2_0">' + "".join(children) + "</r>").encode()
    try:
        parse(xml)
    except XZuFiError as exc:
        assert str(exc)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_read_or_refused_clearly(data: bytes) -> None:
    try:
        doc = parse(data)
    except XZuFiError as exc:
        assert str(exc).strip(), "a refusal says why"
        return
    assert isinstance(doc, Document)
    assert all(o.id.value for o in [*doc.services, *doc.leistungen, *doc.ties]), "every object read has its id"
