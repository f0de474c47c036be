"""Generate the published artefacts in `docs/` from the contracts and the services' FastStream apps.

    python -m contracts.export            # write docs/ (what `make docs` runs)
    python -m contracts.export --check    # exit 1, listing stale files, if docs/ is out of date
    python -m contracts.export --release  # also snapshot the schemas as the released ones

Artefacts: `docs/schemas/<EventType>.json` (the envelope with that payload) and `DeadLetter.json`,
`docs/asyncapi/<service>.json` (AsyncAPI 3.0 of each service), `docs/events.md` (the integrators'
guide). Output is deterministic (sorted keys, no timestamps), so a stale file is a real change.
The services are imported only when the AsyncAPI documents are built: `contracts` itself never
depends on them.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import typing
from collections.abc import Iterable, Mapping
from importlib import import_module
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from contracts import access, authorisation, examples, registry, signing, topics
from contracts.catalogue import EVENTS
from contracts.common import KIND_ALIASES, AgencyKind
from contracts.deadletter import DeadLetter
from contracts.envelope import SCHEMA_VERSION, Envelope

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SCHEMAS_DIR = "schemas"
RELEASED_DIR = "schemas/released"
ASYNCAPI_DIR = "asyncapi"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEAD_LETTER = "DeadLetter"
API_VERSION = f"{SCHEMA_VERSION}.0.0"

KIND_LABELS: dict[AgencyKind, str] = {
    AgencyKind.LOCAL_GOVERNMENT: "Local government: municipality or subdistrict (เทศบาล / อบต.), "
    "Bangkok Metropolitan Administration (กรุงเทพมหานคร)",
    AgencyKind.PROVINCIAL_ADMINISTRATIVE_ORGANISATION: "Local government at province level: "
    "Provincial Administrative Organisation (องค์การบริหารส่วนจังหวัด, อบจ.); not the "
    "governor's provincial administration (ราชการส่วนภูมิภาค)",
    AgencyKind.PRIVATE_DEVELOPER: "Private city developer (ภาคเอกชน)",
    AgencyKind.DEPA: "depa Smart City Thailand Office (ดีป้า)",
    AgencyKind.DES_SUBCOMMITTEE: "DES smart-city subcommittee secretariat",
    AgencyKind.STEERING_COMMITTEE: "National smart-city steering committee secretariat",
    AgencyKind.CABINET: "Secretariat of the Cabinet (สลค.)",
    AgencyKind.SYSTEM: "This system's own services",
}

TOPIC_ROLES: dict[str, str] = {
    topics.INTAKE: "Claims produced by agency systems; only the owning service reads them",
    topics.PROPOSALS: "Accepted proposal facts and intake refusals (owner: proposals)",
    topics.DECISIONS: "Accepted workflow decisions and refusals (owner: approvals)",
    topics.NOTIFICATIONS: "Email delivery results (owner: notifications)",
    topics.DEADLETTER: "Records a consumer refused or could not process, with the reason",
}

HEADER_ROLES: dict[str, str] = {
    topics.HEADER_EVENT_TYPE: "The envelope's `event_type`; must match the body",
    topics.HEADER_EVENT_ID: "The envelope's `event_id`; must match the body",
    topics.HEADER_SCHEMA_VERSION: "The envelope's `schema_version`",
    topics.HEADER_PRODUCER: "The envelope's `producer` (agency id)",
    topics.HEADER_CORRELATION_ID: "The envelope's `correlation_id`",
    topics.HEADER_CONTENT_TYPE: f"Always `{topics.CONTENT_TYPE_JSON}` (UTF-8 JSON body)",
}


def _doc(obj: object) -> str:
    return inspect.getdoc(obj) or ""


def dumps(obj: Any) -> str:
    """The one JSON rendering of every artefact: stable, readable, UTF-8 (Thai stays Thai)."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- JSON Schemas -------------------------------------------------------------------------------


def event_schema(event_type: str) -> dict[str, Any]:
    """JSON Schema of the envelope carrying `event_type`'s payload."""
    payload = EVENTS[event_type].payload
    schema = Envelope[payload].model_json_schema()  # type: ignore[valid-type]
    schema["title"] = event_type
    schema["description"] = _doc(payload)
    schema["$schema"] = JSON_SCHEMA_DIALECT
    return schema


def dead_letter_schema() -> dict[str, Any]:
    schema = DeadLetter.model_json_schema()
    schema["$schema"] = JSON_SCHEMA_DIALECT
    return schema


def registry_event_schema(event_type: str) -> dict[str, Any]:
    """JSON Schema of the registry envelope carrying `event_type`'s payload."""
    payload = registry.REGISTRY_EVENTS[event_type]
    schema = registry.RegistryEnvelope[payload].model_json_schema()  # type: ignore[valid-type]
    schema["title"] = event_type
    schema["description"] = _doc(payload)
    schema["$schema"] = JSON_SCHEMA_DIALECT
    return schema


def current_schemas() -> dict[str, dict[str, Any]]:
    """Every published schema by name: each event type, the registry's events, and the
    dead-letter record."""
    out = {name: event_schema(name) for name in sorted(EVENTS)}
    out |= {name: registry_event_schema(name) for name in sorted(registry.REGISTRY_EVENTS)}
    out[DEAD_LETTER] = dead_letter_schema()
    return out


def load_schemas(directory: Path) -> dict[str, dict[str, Any]]:
    """The schemas stored as `<name>.json` in `directory`."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.json"))
    }


# --- AsyncAPI -----------------------------------------------------------------------------------


def services() -> list[str]:
    """Every service: each has an AsyncAPI document of what it consumes and publishes."""
    return sorted(access.SERVICES)


def _default_settings(settings_cls: type[Any]) -> Any:
    """The service's settings at their defaults, whatever the environment says."""
    defaults = {
        name: field.default
        for name, field in settings_cls.model_fields.items()
        if field.default is not PydanticUndefined
    }
    return settings_cls(**defaults)


def asyncapi(service: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of `service`: its subscribers as the service builds them, plus
    a publisher for each event it owns and for dead letters."""
    from faststream import FastStream
    from faststream.specification import AsyncAPI

    bootstrap = import_module(f"services.{service}.bootstrap")
    settings_cls = typing.get_type_hints(bootstrap.build)["settings"]
    runtime, _app = bootstrap.build(_default_settings(settings_cls))
    broker = runtime.broker
    names = topics.Topics()
    for event_type in sorted(name for name, spec in EVENTS.items() if spec.owner == service):
        spec = EVENTS[event_type]
        broker.publisher(
            names.name(spec.fact_topic),
            title=f"{spec.fact_topic}:{event_type}",
            schema=Envelope[spec.payload],  # type: ignore[name-defined]
            description=_doc(spec.payload),
        )
    broker.publisher(
        names.deadletter,
        title=f"{topics.DEADLETTER}:{DEAD_LETTER}",
        schema=DeadLetter,
        description=_doc(DeadLetter),
    )
    app = FastStream(
        broker,
        specification=AsyncAPI(
            title=f"Smart City Thailand: {service}",
            version=API_VERSION,
            description=f"Kafka interface of the {service} service (generated; do not edit).",
        ),
    )
    document: dict[str, Any] = json.loads(app.schema.to_specification().to_json())
    return _one_schema_per_envelope(document)


def _one_schema_per_envelope(document: dict[str, Any]) -> dict[str, Any]:
    """The subscribers' payloads name an envelope as pydantic does (`Envelope_X_`), the
    publishers as FastStream does (`Envelope[X]`): keep one schema per envelope, by the
    publishers' name."""
    schemas: dict[str, Any] = document["components"]["schemas"]
    components = "#/components/schemas/"
    renamed: dict[str, str] = {}
    for event_type in EVENTS:
        if (schema := schemas.pop(f"Envelope_{event_type}_", None)) is not None:
            schemas.setdefault(f"Envelope[{event_type}]", schema)
            renamed[f"{components}Envelope_{event_type}_"] = (
                f"{components}Envelope%5B{event_type}%5D"
            )

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: renamed.get(v, v) if k == "$ref" else rewrite(v) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    rewritten: dict[str, Any] = rewrite(document)
    return rewritten


# --- docs/events.md -----------------------------------------------------------------------------


def _resolve(root: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = root["$defs"][ref.removeprefix("#/$defs/")]
        return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _type_label(root: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    schema = _resolve(root, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            labels = [_type_label(root, option) for option in schema[key]]
            return " or ".join(dict.fromkeys(labels))
    if "const" in schema:
        return f"`{json.dumps(schema['const'], ensure_ascii=False)}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        inner = _type_label(root, schema.get("items", {}))
        bounds = _bounds(schema, "minItems", "maxItems", "items")
        return f"list of {inner}{bounds}"
    if kind == "object" and "properties" in schema:
        return f"object {schema.get('title', '')}".strip()
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            return f"map of string to {_type_label(root, extra)}"
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


def _field_rows(
    root: Mapping[str, Any], schema: Mapping[str, Any], prefix: str = ""
) -> Iterable[tuple[str, str, bool, str]]:
    """(dotted field, type, required, description) for every field, nested objects expanded."""
    schema = _resolve(root, schema)
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        resolved = _resolve(root, prop)
        description = str(prop.get("description") or resolved.get("description") or "")
        yield path, _type_label(root, prop), name in required, description
        if "properties" in resolved:
            yield from _field_rows(root, resolved, f"{path}.")
        items = resolved.get("items")
        if isinstance(items, Mapping) and "properties" in _resolve(root, items):
            yield from _field_rows(root, items, f"{path}[].")
        for option in resolved.get("anyOf", ()):
            inner = _resolve(root, option)
            if "properties" in inner:
                yield from _field_rows(root, inner, f"{path}.")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _field_table(
    root: Mapping[str, Any], schema: Mapping[str, Any] | None = None, *, skip: str | None = None
) -> list[str]:
    lines = ["| field | type | required | description |", "|---|---|---|---|"]
    for path, label, required, description in _field_rows(root, root if schema is None else schema):
        if skip is not None and (path == skip or path.startswith(f"{skip}.")):
            continue
        mark = "yes" if required else "no"
        lines.append(f"| `{path}` | {_cell(label)} | {mark} | {_cell(description)} |")
    return lines


def _json_block(obj: Any) -> list[str]:
    return ["```json", json.dumps(obj, indent=2, ensure_ascii=False), "```"]


def _may_emit(event_type: str) -> list[AgencyKind]:
    kinds = authorisation.MATRIX.get(event_type, frozenset())
    return [kind for kind in AgencyKind if kind in kinds]


def _is_claimable(event_type: str) -> bool:
    return any(kind is not AgencyKind.SYSTEM for kind in _may_emit(event_type))


def events_markdown() -> str:
    """The integrators' guide, generated from the catalogue, the models and the matrix."""
    out: list[str] = [
        "# Events: the guide for agency integrators",
        "",
        "<!-- Generated by `python -m contracts.export` (`make docs`) from `contracts/`. "
        "Do not edit by hand. -->",
        "",
        "Every message of the Smart City Thailand certification workflow is a JSON envelope "
        "(UTF-8) on a Kafka topic. This page lists each event, who may emit it, where it goes, "
        "and an example generated from the models. Machine-readable forms: JSON Schema per "
        "event in [`schemas/`](schemas/) and AsyncAPI per service in [`asyncapi/`](asyncapi/).",
        "",
        "## How to take part",
        "",
        "- **Claims.** An agency system acts either over HTTP to the owning service or by "
        f"producing the same envelope to `{topics.INTAKE}`. What an agency produces is a claim: "
        "the owning service checks it (schema, authorisation, workflow stage) and turns it into "
        "a fact on the fact topic, or refuses it (`IntakeRejected` / `TransitionRefused` "
        "addressed to the producer, plus a dead-letter record).",
        "- **Facts.** Read the fact topics to follow proposals; never act on the intake topic.",
        "- **Deduplicate** by `event_id`: delivery is at least once.",
        "- **Times** are ISO 8601 with an offset; they are normalised to UTC. A time without an "
        "offset is refused. Dates (meetings, resolutions) are Gregorian `YYYY-MM-DD`; meeting "
        "ids use the Buddhist-era year (`1/2565` is meeting 1 of 2022).",
        "- **Strict:** unknown fields are refused everywhere. Text people read comes in Thai "
        "(`th`) and English (`en`).",
        "",
        "## Topics",
        "",
        "A deployment may put every topic under a namespace prefix (empty in production). "
        f"Default partitions per topic: {topics.DEFAULT_PARTITIONS}.",
        "",
        "| topic | carries |",
        "|---|---|",
    ]
    out += [f"| `{name}` | {TOPIC_ROLES.get(name, '')} |" for name in topics.ALL_TOPICS]
    out += [
        "",
        "### Partition key",
        "",
        "Every record is keyed by the **proposal id**, UTF-8 encoded (the envelope's "
        "`proposal_id`), on every topic. All events of one proposal land on one partition and "
        "stay in order. Dead-letter records keep the key of the original record.",
        "",
        "### Headers",
        "",
        "Producers set these headers; consumers check the event type and id against the body "
        "and refuse a mismatch.",
        "",
        "| header | value |",
        "|---|---|",
    ]
    out += [f"| `{name}` | {role} |" for name, role in HEADER_ROLES.items()]
    envelope_schema = event_schema("ProposalWithdrawn")
    out += [
        "",
        "## The envelope",
        "",
        _doc(Envelope)
        + f" Current `schema_version`: {SCHEMA_VERSION}; a consumer refuses a newer version "
        "than it knows.",
        "",
        *_field_table(envelope_schema, skip="payload"),
        "| `payload` | object | yes | The event itself: one of the payloads below |",
        "",
        "## Who may emit what",
        "",
        "Producers are agencies of the directory (below). The matrix is enforced by every "
        "consumer, on HTTP and Kafka alike. In addition:",
        "",
        "- an applicant acts only for its own proposals (resubmit, withdraw): "
        + ", ".join(f"`{e}`" for e in sorted(authorisation.OWNER_BOUND_EVENTS))
        + ";",
        "- a local government or a provincial administration acts only for proposals in its "
        "own province (private developers may apply in any province).",
        "",
        "| event | " + " | ".join(f"`{kind.value}`" for kind in AgencyKind) + " |",
        "|---|" + "---|" * len(AgencyKind),
    ]
    for event_type in EVENTS:
        allowed = set(_may_emit(event_type))
        marks = " | ".join("yes" if kind in allowed else "" for kind in AgencyKind)
        out.append(f"| `{event_type}` | {marks} |")
    out += _agency_directory_section()
    out += ["", "## Events", ""]
    for event_type in EVENTS:
        out += [f"- [{event_type}](#{event_type.lower()})"]
    for event_type, spec in EVENTS.items():
        schema = event_schema(event_type)
        who = ", ".join(f"`{kind.value}`" for kind in _may_emit(event_type))
        where = [f"fact on `{spec.fact_topic}`"]
        owner_role = "turned into facts by" if _is_claimable(event_type) else "emitted by"
        if _is_claimable(event_type):
            where.insert(0, f"claim on `{topics.INTAKE}`")
        out += [
            "",
            f"### {event_type}",
            "",
            _doc(spec.payload),
            "",
            f"- **May emit:** {who}",
            f"- **Topics:** {'; '.join(where)} ({owner_role} the `{spec.owner}` service)",
            "- **Key:** the proposal id; **headers:** as above, "
            f"`{topics.HEADER_EVENT_TYPE}: {event_type}`",
            f"- **JSON Schema:** [`schemas/{event_type}.json`](schemas/{event_type}.json)",
            "",
            "Payload fields (`payload.`...):",
            "",
            *_field_table(schema, schema["$defs"][event_type]),
            "",
            *_example_section(event_type),
        ]
    out += _signed_claims_section()
    out += _registry_section()
    dead = examples.example_dead_letter()
    out += [
        "",
        "## The dead-letter record",
        "",
        _doc(DeadLetter),
        "",
        f"- **Topic:** `{topics.DEADLETTER}`; **key:** the original record's key",
        f"- **JSON Schema:** [`schemas/{DEAD_LETTER}.json`](schemas/{DEAD_LETTER}.json)",
        "",
        *_field_table(dead_letter_schema()),
        "",
        "Example:",
        "",
        *_json_block(dead.model_dump(mode="json")),
        "",
        "## Schema evolution",
        "",
        "Schemas change additively only: new optional fields, new enum values, relaxed bounds. "
        f"The released schemas are kept in [`{RELEASED_DIR}/`]({RELEASED_DIR}/); a test compares "
        "every current schema with them and fails on a removed field, an optional field made "
        "required, or a narrowed type.",
        "",
    ]
    return "\n".join(out)


def _example_section(event_type: str) -> list[str]:
    if event_type not in examples.PAYLOADS:
        return ["(No example yet: add one to `contracts/examples.py`.)"]
    example = examples.example_envelope(event_type)
    return [
        "Example headers and value:",
        "",
        *_json_block(example.headers()),
        "",
        *_json_block(example.model_dump(mode="json")),
    ]


def _signed_claims_section() -> list[str]:
    v = signing.TEST_VECTOR
    data = signing.signing_input(v.value, v.key, v.event_type.encode())
    return [
        "",
        "## Signed claims",
        "",
        f"Every claim on `{topics.INTAKE}` is signed with an Ed25519 key of the producing "
        "agency, registered in the agency registry (`smartcity-admin onboard` or "
        "`smartcity-admin signing-key add`). A claim is acted on only if its signature matches "
        "a current key of the agency named in `producer`; otherwise it changes nothing, is "
        "answered to nobody, and becomes a dead letter of kind `unauthenticated`. The Python "
        "kit `smartcity_kit` (in this repository) builds, signs and produces claims.",
        "",
        f"**Header** `{signing.HEADER_SIGNATURE}`: `keyid=<key id>;ed25519=<signature>`, where "
        "the key id is `<agency id>:<first 16 hex digits of SHA-256 of the 32-byte public "
        "key>` and the signature is the 64-byte Ed25519 signature in standard base64 (88 "
        "characters with padding).",
        "",
        "**Bytes signed**, in this order:",
        "",
        f"1. the ASCII line `{signing.SIGNATURE_DOMAIN.decode().strip()}` and a newline (0x0a);",
        "2. the length of the record key as a 4-byte big-endian unsigned integer, then the key "
        "bytes (the UTF-8 proposal id; a record without a key counts as empty);",
        f"3. the same for the value of the `{topics.HEADER_EVENT_TYPE}` header (UTF-8);",
        "4. the same for the record value: the exact bytes sent, not a re-serialisation.",
        "",
        "**Test vector.** Private key seed (32 bytes, hex), agency, record key, event type:",
        "",
        f"    seed        {v.private_key_seed_hex}",
        f"    agency      {v.agency_id}",
        f"    key         {v.key.decode()}",
        f"    event type  {v.event_type}",
        "",
        "Record value (UTF-8, one line):",
        "",
        f"    {v.value.decode()}",
        "",
        f"Bytes signed ({len(data)} bytes), hex:",
        "",
        *[f"    {data[i : i + 48].hex()}" for i in range(0, len(data), 48)],
        "",
        "Header:",
        "",
        f"    {signing.HEADER_SIGNATURE}: {v.signature_header}",
        "",
        "`tests/unit/test_signing.py` checks this vector.",
    ]


def _registry_section() -> list[str]:
    out = [
        "",
        "## The agency registry",
        "",
        f"Agencies, their API keys (hashes only) and their public signing keys are events on "
        f"`{topics.REGISTRY}`, a compacted topic with one partition written only by the admin "
        "(`smartcity-admin`). The record key names the subject (`agency:<id>`, "
        "`signing-key:<key id>`, `api-key:<key id>`) and every event carries the whole current "
        "state of its subject, so compaction keeps the latest of each. Every service reads the "
        "topic from the start into its own projection and follows it, so a change is seen "
        "within seconds without a restart. A fresh stack is seeded from "
        "`contracts/reference/agencies.csv` (`smartcity-admin seed`).",
        "",
        "| event | what it says |",
        "|---|---|",
    ]
    out += [
        f"| `{name}` ([schema](schemas/{name}.json)) | {_doc(p).splitlines()[0]} |"
        for name, p in registry.REGISTRY_EVENTS.items()
    ]
    return out


def _agency_directory_section() -> list[str]:
    kinds = "\n".join(f"| `{kind.value}` | {KIND_LABELS[kind]} |" for kind in AgencyKind)
    return [
        "",
        "## The agency directory",
        "",
        "Producers are identified by agency id (`producer` in the envelope). The directory is "
        "`contracts/reference/agencies.csv`, UTF-8 CSV with a header row:",
        "",
        "| column | content |",
        "|---|---|",
        "| `id` | Agency id: lower-case letters, digits, `.`, `_`, `-`, 2-64 characters, "
        "unique (e.g. `lg-phuket-city`) |",
        "| `kind` | Agency kind, one of the values below |",
        "| `name_th` | Name in Thai |",
        "| `name_en` | Name in English |",
        "| `province_code` | Two-digit province code for local governments (อบจ. included); "
        "empty for national bodies and services |",
        "",
        "Every province except Bangkok also has its Provincial Administrative Organisation, "
        "`pao-<code>` (e.g. `pao-83` for Phuket), derived from the province list; Bangkok "
        "(code 10) is a special local government and has none.",
        "",
        "| kind | who |",
        "|---|---|",
        kinds,
        "",
        "Earlier names of a kind are still read, as the same kind, and never written: "
        + ", ".join(f"`{old}` (now `{new.value}`)" for old, new in KIND_ALIASES.items())
        + ".",
    ]


# --- writing and checking -----------------------------------------------------------------------


def artefacts() -> dict[str, str]:
    """Every generated file, by path relative to `docs/`, with its exact content."""
    files = {
        f"{SCHEMAS_DIR}/{name}.json": dumps(schema) for name, schema in current_schemas().items()
    }
    for service in services():
        files[f"{ASYNCAPI_DIR}/{service}.json"] = dumps(asyncapi(service))
    files["events.md"] = events_markdown()
    security = docs_path("security.md")
    if security.is_file():
        files["security.md"] = with_acl_table(security.read_text(encoding="utf-8"))
    return files


ACL_BEGIN = "<!-- acl:begin (generated from contracts/access.py by make docs) -->"
ACL_END = "<!-- acl:end -->"


def docs_path(relative: str) -> Path:
    return DOCS / relative


def with_acl_table(text: str) -> str:
    """docs/security.md with the ACL table between its markers regenerated."""
    before, begin, rest = text.partition(ACL_BEGIN)
    _, end, after = rest.partition(ACL_END)
    if not begin or not end:
        raise ValueError(f"docs/security.md lacks the {ACL_BEGIN} ... {ACL_END} markers")
    return f"{before}{ACL_BEGIN}\n{access.acl_table_markdown()}{ACL_END}{after}"


def stale(docs: Path = DOCS) -> list[str]:
    """Generated files that are missing, different, or left over in `docs/`."""
    expected = artefacts()
    out = [
        path
        for path, content in sorted(expected.items())
        if not (docs / path).is_file() or (docs / path).read_text(encoding="utf-8") != content
    ]
    for directory in (SCHEMAS_DIR, ASYNCAPI_DIR):
        for path in sorted((docs / directory).glob("*.json")):
            relative = f"{directory}/{path.name}"
            if relative not in expected:
                out.append(relative)
    return out


def write(docs: Path = DOCS, *, release: bool = False) -> list[str]:
    """Write every artefact (and remove generated files no longer produced)."""
    expected = artefacts()
    for directory in (SCHEMAS_DIR, ASYNCAPI_DIR):
        for path in (docs / directory).glob("*.json"):
            if f"{directory}/{path.name}" not in expected:
                path.unlink()
    written = []
    for relative, content in sorted(expected.items()):
        path = docs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            written.append(relative)
    if release:
        released = docs / RELEASED_DIR
        released.mkdir(parents=True, exist_ok=True)
        for name, schema in current_schemas().items():
            (released / f"{name}.json").write_text(dumps(schema), encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.export", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/ is stale")
    parser.add_argument(
        "--release", action="store_true", help="snapshot the current schemas as released"
    )
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale()
        if out_of_date:
            print("docs/ is stale; run `make docs`:", *out_of_date, sep="\n  ", file=sys.stderr)
            return 1
        print("docs/ is up to date")
        return 0
    written = write(release=args.release)
    print(f"wrote {len(written)} file(s) in {DOCS}", *written, sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
