"""docs/events.md, the integrators' guide: `templates/events.md.j2` rendered with what the
catalogue, the models, the authorisation matrix and the signing test vector say."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from smartcity_th.contracts import authorisation, examples, records, registry, signing, topics
from smartcity_th.contracts.agencies import KIND_LABELS
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import KIND_ALIASES, AgencyKind
from smartcity_th.contracts.deadletter import DeadLetter
from smartcity_th.contracts.envelope import SCHEMA_VERSION, Envelope
from tools.docgen.schemas import (
    DEAD_LETTER,
    RELEASED_DIR,
    dead_letter_schema,
    doc,
    event_schema,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class FieldRow:
    path: str
    label: str
    required: bool
    description: str


def _resolve(root: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = root["$defs"][ref.removeprefix("#/$defs/")]
        return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def type_label(root: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """A field's type in words: `list of string (1-5 items)`, `date-time`, ..."""
    schema = _resolve(root, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            labels = [type_label(root, option) for option in schema[key]]
            return " or ".join(dict.fromkeys(labels))
    if "const" in schema:
        return f"`{json.dumps(schema['const'], ensure_ascii=False)}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        inner = type_label(root, schema.get("items", {}))
        bounds = _bounds(schema, "minItems", "maxItems", "items")
        return f"list of {inner}{bounds}"
    if kind == "object" and "properties" in schema:
        return f"object {schema.get('title', '')}".strip()
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            return f"map of string to {type_label(root, extra)}"
        return "object"
    label = str(schema.get("format", kind))
    if "pattern" in schema:
        label += f" matching `{schema['pattern']}`"
    label += _bounds(schema, "minLength", "maxLength", "characters")
    if "minimum" in schema:
        label += f", >= {schema['minimum']}"
    if "maximum" in schema:
        label += f", <= {schema['maximum']}"
    return label


def _bounds(schema: Mapping[str, Any], low: str, high: str, unit: str) -> str:
    if low in schema and high in schema:
        return f" ({schema[low]}-{schema[high]} {unit})"
    if high in schema:
        return f" (at most {schema[high]} {unit})"
    if low in schema and schema[low] > 0:
        return f" (at least {schema[low]} {unit})"
    return ""


def field_rows(
    root: Mapping[str, Any], schema: Mapping[str, Any] | None = None, prefix: str = ""
) -> Iterable[FieldRow]:
    """Every field of `schema` (default: `root`), nested objects expanded as dotted paths."""
    schema = _resolve(root, root if schema is None else schema)
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        resolved = _resolve(root, prop)
        description = str(prop.get("description") or resolved.get("description") or "")
        yield FieldRow(path, type_label(root, prop), name in required, description)
        if "properties" in resolved:
            yield from field_rows(root, resolved, f"{path}.")
        items = resolved.get("items")
        if isinstance(items, Mapping) and "properties" in _resolve(root, items):
            yield from field_rows(root, items, f"{path}[].")
        for option in resolved.get("anyOf", ()):
            inner = _resolve(root, option)
            if "properties" in inner:
                yield from field_rows(root, inner, f"{path}.")


def may_emit(event_type: str) -> list[AgencyKind]:
    kinds = authorisation.MATRIX.get(event_type, frozenset())
    return [kind for kind in AgencyKind if kind in kinds]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters |= {
        "cell": _cell,
        "code": lambda text: f"`{text}`",
        "json": _json,
        "first_line": lambda text: text.splitlines()[0],
    }
    return env


def _event(event_type: str) -> dict[str, Any]:
    spec = EVENTS[event_type]
    schema = event_schema(event_type)
    return {
        "name": event_type,
        "spec": spec,
        "doc": doc(spec.payload),
        "may_emit": may_emit(event_type),
        "claimable": authorisation.is_claimable(event_type),
        "fields": list(field_rows(schema, schema["$defs"][event_type])),
        "example": examples.example_envelope(event_type),
    }


def _signing() -> dict[str, Any]:
    vector = next(v for v in signing.signing_vectors() if v.version == signing.SIGNATURE_VERSION)
    data = vector.signing_input()
    policy = signing.ClaimPolicy()
    assert policy.v1_accepted_until is not None
    return {
        "vector": vector,
        "version": signing.SIGNATURE_VERSION,
        "header": signing.HEADER_SIGNATURE,
        "signed_at_header": signing.HEADER_SIGNED_AT,
        "domain": signing.SIGNATURE_DOMAIN.decode().strip(),
        "domain_v1": signing.SIGNATURE_DOMAIN_V1.decode().strip(),
        "max_age": int(policy.max_age.total_seconds()),
        "max_skew": int(policy.max_skew.total_seconds()),
        "v1_until": policy.v1_accepted_until.isoformat(),
        "signed_length": len(data),
        "signed_hex_lines": [data[i : i + 48].hex() for i in range(0, len(data), 48)],
    }


def events_markdown() -> str:
    """The integrators' guide, generated from the catalogue, the models and the matrix."""
    envelope = event_schema("ProposalWithdrawn")
    return (
        _environment()
        .get_template("events.md.j2")
        .render(
            topics=topics,
            record_shapes=[
                (topic, records.record_shape(topic))
                for topic in (topics.INTAKE, topics.PROPOSALS, topics.DEADLETTER)
            ],
            header_descriptions=records.HEADER_DESCRIPTIONS,
            schema_version=SCHEMA_VERSION,
            envelope_doc=doc(Envelope),
            envelope_fields=[
                row
                for row in field_rows(envelope)
                if row.path != "payload" and not row.path.startswith("payload.")
            ],
            kinds=list(AgencyKind),
            kind_labels=KIND_LABELS,
            kind_aliases=KIND_ALIASES,
            owner_bound=sorted(authorisation.OWNER_BOUND_EVENTS),
            events=[_event(event_type) for event_type in EVENTS],
            signing=_signing(),
            registry_events={
                name: doc(payload) for name, payload in registry.REGISTRY_EVENTS.items()
            },
            dead_letter={
                "name": DEAD_LETTER,
                "doc": doc(DeadLetter),
                "fields": list(field_rows(dead_letter_schema())),
                "example": examples.example_dead_letter().model_dump(mode="json"),
            },
            released_dir=RELEASED_DIR,
        )
    )
