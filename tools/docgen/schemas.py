"""The JSON Schemas of the events, the registry's events and the dead-letter record."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from smartcity_th.contracts import registry
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.deadletter import DeadLetter
from smartcity_th.contracts.envelope import SCHEMA_VERSION, Envelope

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEAD_LETTER = "DeadLetter"
RELEASED_ROOT = "schemas/released"
RELEASED_DIR = f"{RELEASED_ROOT}/v{SCHEMA_VERSION}"
"""Where `--release` snapshots the schemas of the current schema version, relative to `docs/`;
`contracts/evolution.py`'s test compares the current schemas with them (additive changes only
within a version). Each earlier version keeps its own folder (`v1`, ...): what
`contracts/upgrade.py` reads."""


def doc(obj: object) -> str:
    return inspect.getdoc(obj) or ""


def dumps(obj: Any) -> str:
    """The one JSON rendering of every artefact: stable, readable, UTF-8 (Thai stays Thai)."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def event_schema(event_type: str) -> dict[str, Any]:
    """JSON Schema of the envelope carrying `event_type`'s payload."""
    payload = EVENTS[event_type].payload
    schema = Envelope[payload].model_json_schema()  # type: ignore[valid-type]
    schema["title"] = event_type
    schema["description"] = doc(payload)
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
    schema["description"] = doc(payload)
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
