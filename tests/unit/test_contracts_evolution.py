"""Schema evolution: the comparator on synthetic schema pairs, and the real check against the
released snapshot in docs/schemas/released/."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from smartcity_th.contracts.evolution import BreakingChange, compare, compare_all
from tools.docgen.artefacts import DOCS
from tools.docgen.schemas import RELEASED_DIR, current_schemas, load_schemas


def _released() -> dict[str, Any]:
    """A small pydantic-style schema: an envelope with a $ref'd payload and nested model."""
    return {
        "$defs": {
            "Meeting": {
                "additionalProperties": False,
                "properties": {
                    "meeting_id": {"pattern": "^[0-9]{1,3}/25[0-9]{2}$", "type": "string"},
                    "held_on": {"format": "date", "type": "string"},
                },
                "required": ["meeting_id", "held_on"],
                "type": "object",
            },
            "Kind": {"enum": ["depa", "cabinet"], "type": "string"},
            "Decision": {
                "additionalProperties": False,
                "properties": {
                    "meeting": {"$ref": "#/$defs/Meeting"},
                    "kind": {"$ref": "#/$defs/Kind"},
                    "resolution": {"maxLength": 200, "minLength": 1, "type": "string"},
                    "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
                    "votes": {"items": {"type": "integer"}, "maxItems": 9, "type": "array"},
                    "score": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                },
                "required": ["meeting", "kind", "resolution", "votes", "score"],
                "type": "object",
            },
        },
        "additionalProperties": False,
        "properties": {
            "event_id": {"format": "uuid", "type": "string"},
            "payload": {"$ref": "#/$defs/Decision"},
        },
        "required": ["event_id", "payload"],
        "type": "object",
    }


def _changed(edit: Any) -> list[BreakingChange]:
    released = _released()
    current = copy.deepcopy(released)
    edit(current)
    return compare("Decision", released, current)


def test_an_identical_schema_is_compatible() -> None:
    assert _changed(lambda s: None) == []


def _drop(s: dict[str, Any]) -> None:
    del s["$defs"]["Meeting"]["properties"]["held_on"]
    s["$defs"]["Meeting"]["required"].remove("held_on")


def _require(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["required"].append("note")


def _union(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["properties"]["note"] = {"type": "string"}


def _union_member(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["properties"]["score"] = {"type": "integer"}


def _enum(s: dict[str, Any]) -> None:
    s["$defs"]["Kind"]["enum"] = ["depa"]


def _max_length(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["properties"]["resolution"]["maxLength"] = 100


def _min_length(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["properties"]["resolution"]["minLength"] = 5


def _max_items(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["properties"]["votes"]["maxItems"] = 3


def _item_type(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["properties"]["votes"]["items"] = {"type": "boolean"}


def _pattern(s: dict[str, Any]) -> None:
    s["$defs"]["Meeting"]["properties"]["meeting_id"]["pattern"] = "^[0-9]/25[0-9]{2}$"


def _new_pattern(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["properties"]["resolution"]["pattern"] = "^[A-Z]"


def _new_required(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["properties"]["chair"] = {"type": "string"}
    s["$defs"]["Decision"]["required"].append("chair")


def _type_changed(s: dict[str, Any]) -> None:
    s["properties"]["event_id"] = {"type": "integer"}


def _remove_event_field(s: dict[str, Any]) -> None:
    del s["properties"]["event_id"]


@pytest.mark.parametrize(
    ("edit", "field", "kind"),
    [
        (_drop, "payload.meeting.held_on", "removed field"),
        (_remove_event_field, "event_id", "removed field"),
        (_require, "payload.note", "optional made required"),
        (_new_required, "payload.chair", "new required field"),
        (_union, "payload.note", "narrowed type"),
        (_union_member, "payload.score", "narrowed type"),
        (_enum, "payload.kind", "enum value removed"),
        (_max_length, "payload.resolution", "narrowed type"),
        (_min_length, "payload.resolution", "narrowed type"),
        (_max_items, "payload.votes", "narrowed type"),
        (_item_type, "payload.votes[]", "narrowed type"),
        (_pattern, "payload.meeting.meeting_id", "narrowed type"),
        (_new_pattern, "payload.resolution", "narrowed type"),
        (_type_changed, "event_id", "narrowed type"),
    ],
)
def test_each_breaking_change_is_reported_with_event_and_field(
    edit: Any, field: str, kind: str
) -> None:
    changes = _changed(edit)
    assert [(c.event, c.field, c.kind) for c in changes][:1] == [("Decision", field, kind)]
    assert str(changes[0]).startswith(f"Decision: field '{field}': {kind}")


def _add_optional(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["properties"]["chair"] = {"type": "string", "default": "x"}


def _widen_union(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["properties"]["resolution"] = {
        "anyOf": [{"maxLength": 200, "minLength": 1, "type": "string"}, {"type": "null"}]
    }


def _add_enum_value(s: dict[str, Any]) -> None:
    s["$defs"]["Kind"]["enum"].append("steering")


def _relax_bounds(s: dict[str, Any]) -> None:
    resolution = s["$defs"]["Decision"]["properties"]["resolution"]
    resolution["maxLength"], resolution["minLength"] = 400, 0
    del s["$defs"]["Decision"]["properties"]["votes"]["maxItems"]


def _make_optional(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["required"].remove("resolution")


def _describe(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["description"] = "A decision"
    s["$defs"]["Decision"]["properties"]["resolution"]["description"] = "As minuted"
    s["$defs"]["Decision"]["properties"]["resolution"]["title"] = "Resolution"


def _integer_to_number(s: dict[str, Any]) -> None:
    s["$defs"]["Decision"]["properties"]["votes"]["items"] = {"type": "number"}


@pytest.mark.parametrize(
    "edit",
    [
        _add_optional,
        _widen_union,
        _add_enum_value,
        _relax_bounds,
        _make_optional,
        _describe,
        _integer_to_number,
    ],
)
def test_additive_changes_are_allowed(edit: Any) -> None:
    assert _changed(edit) == []


def test_a_removed_event_is_breaking() -> None:
    changes = compare_all({"Decision": _released()}, {})
    assert [(c.event, c.kind) for c in changes] == [("Decision", "event removed")]


def test_a_new_event_is_allowed() -> None:
    assert compare_all({}, {"Decision": _released()}) == []


def test_recursive_schemas_terminate() -> None:
    node = {
        "$defs": {
            "Node": {
                "properties": {"child": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}},
                "type": "object",
            }
        },
        "$ref": "#/$defs/Node",
    }
    assert compare("Tree", node, copy.deepcopy(node)) == []


def test_current_schemas_are_compatible_with_the_released_ones() -> None:
    released = load_schemas(DOCS / RELEASED_DIR)
    assert released, "no released schemas in docs/schemas/released"
    changes = compare_all(released, current_schemas())
    assert not changes, "breaking schema changes:\n" + "\n".join(map(str, changes))
