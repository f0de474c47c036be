"""The AsyncAPI 3.0 document of each service, built from its own FastStream broker."""

from __future__ import annotations

import json
import typing
from importlib import import_module
from typing import Any

from faststream import FastStream
from faststream.specification import AsyncAPI
from pydantic_core import PydanticUndefined

from smartcity_th.contracts import access, topics
from smartcity_th.contracts.catalogue import EVENTS, carried_on
from smartcity_th.contracts.deadletter import DeadLetter
from smartcity_th.contracts.envelope import SCHEMA_VERSION, Envelope
from smartcity_th.contracts.records import HEADER_DESCRIPTIONS, record_shape
from tools.docgen.schemas import DEAD_LETTER, doc

API_VERSION = f"{SCHEMA_VERSION}.0.0"


def services() -> list[str]:
    """Every service: each has an AsyncAPI document of what it consumes and publishes."""
    return sorted(access.SERVICES)


def _default_settings(settings_cls: type[Any]) -> Any:
    """The service's settings at their defaults, whatever the environment says; no tracing (the
    app is only built, never started, and has no traces to send)."""
    defaults = {
        name: field.default
        for name, field in settings_cls.model_fields.items()
        if field.default is not PydanticUndefined
    }
    return settings_cls(**defaults | {"tracing_enabled": False})


def asyncapi(service: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of `service`: its subscribers as the service builds them, plus
    a publisher for each event it owns and for dead letters."""
    bootstrap = import_module(f"smartcity_th.services.{service}.bootstrap")
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
            description=doc(spec.payload),
        )
    broker.publisher(
        names.deadletter,
        title=f"{topics.DEADLETTER}:{DEAD_LETTER}",
        schema=DeadLetter,
        description=doc(DeadLetter),
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
    return _with_record_shape(_by_topic(_one_schema_per_envelope(document)))


def _with_record_shape(document: dict[str, Any]) -> dict[str, Any]:
    """Each message says what travels beside its value (`smartcity_th.contracts.records`): its
    headers (which are required), its key, and that the correlation id is our header (FastStream
    points at its own per-publish `correlation_id`)."""
    messages: dict[str, Any] = document["components"]["messages"]
    for channel in document["channels"].values():
        shape = record_shape(channel["address"])
        for ref in channel["messages"].values():
            message = messages[ref["$ref"].rsplit("/", 1)[-1]]
            message["headers"] = {
                "type": "object",
                "required": list(shape.required),
                "properties": {
                    name: {"type": "string", "description": HEADER_DESCRIPTIONS[name]}
                    for name in (*shape.required, *shape.optional)
                },
            }
            if topics.HEADER_CORRELATION_ID in (*shape.required, *shape.optional):
                message["correlationId"] = {
                    "description": "Every event of one proposal's journey shares it",
                    "location": f"$message.header#/{topics.HEADER_CORRELATION_ID}",
                }
            else:
                message.pop("correlationId", None)
            message["bindings"] = {
                "kafka": {
                    "key": {"type": "string", "description": shape.key},
                    "bindingVersion": "0.5.0",
                }
            }
    return document


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


def _by_topic(document: dict[str, Any]) -> dict[str, Any]:
    """A subscriber over several topics has one payload for all of them: give each topic's
    channel only the envelopes that topic carries
    (`smartcity_th.contracts.catalogue.carried_on`)."""
    schemas: dict[str, Any] = document["components"]["schemas"]
    messages: dict[str, Any] = document["components"]["messages"]
    replaced: set[str] = set()
    for operation in document["operations"].values():
        if operation["action"] != "receive":
            continue
        key = operation["channel"]["$ref"].rsplit("/", 1)[-1]
        channel = document["channels"][key]
        topic = channel["address"]
        carried = {*carried_on(topic), *([DEAD_LETTER] if topic == topics.DEADLETTER else [])}
        for ref in channel["messages"].values():
            message = messages[ref["$ref"].rsplit("/", 1)[-1]]
            name = message["payload"]["$ref"].rsplit("/", 1)[-1]
            payload = schemas[name]
            kept = [r for r in payload["oneOf"] if _schema_event(r["$ref"]) in carried]
            if len(kept) == len(payload["oneOf"]):
                continue
            narrowed = f"{key}:Payload"
            schemas[narrowed] = {**payload, "oneOf": kept, "title": narrowed}
            message["payload"]["$ref"] = f"#/components/schemas/{narrowed}"
            replaced.add(name)
    used = json.dumps(document)
    for name in replaced:
        if f'"#/components/schemas/{name}"' not in used:
            del schemas[name]
    return document


def _schema_event(ref: str) -> str:
    """`#/components/schemas/Envelope%5BX%5D` -> `X`; `.../DeadLetter` -> `DeadLetter`."""
    name = ref.rsplit("/", 1)[-1].replace("%5B", "[").replace("%5D", "]")
    return name.removeprefix("Envelope[").removesuffix("]")
