"""Each service's OpenAPI document describes the API as it answers (issue 25): the API-key
security scheme on every operation that needs a key, and every refusal in the one error body
(no FastAPI `{"detail": [...]}`, which no service sends). tests/e2e/test_openapi_fuzz.py checks
the answers against the documents with schemathesis."""

from __future__ import annotations

import typing
from importlib import import_module
from typing import Any

import pytest
from pydantic_core import PydanticUndefined

SERVICES = ("proposals", "approvals", "notifications", "console")
PUBLIC = {
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/registry"),
    ("get", "/registry/summary"),
    ("get", "/certificates/{number}"),
    ("get", "/certificates/{number}/facts"),
}


def document(service: str) -> dict[str, Any]:
    bootstrap = import_module(f"smartcity_th.services.{service}.bootstrap")
    settings_cls = typing.get_type_hints(bootstrap.build)["settings"]
    defaults = {
        name: field.default
        for name, field in settings_cls.model_fields.items()
        if field.default is not PydanticUndefined
    }
    _runtime, app = bootstrap.build(settings_cls(**defaults | {"tracing_enabled": False}))
    spec: dict[str, Any] = app.openapi()
    return spec


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_that_needs_a_key_declares_the_api_key_scheme(service: str) -> None:
    spec = document(service)
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["ApiKey"]["description"],
    }
    for method, path, op in operations(spec):
        if (method, path) in PUBLIC:
            assert "security" not in op, f"{method} {path} is public"
            continue
        assert {"ApiKey": []} in op.get("security", []), f"{method} {path} has no key scheme"
        assert {"401", "429"} <= set(op["responses"]), f"{method} {path}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_refusal_is_documented_in_the_one_error_body(service: str) -> None:
    spec = document(service)
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorResponse"]["required"]) == {"error", "error_th"}
    for method, path, op in operations(spec):
        for status, response in op["responses"].items():
            if status.startswith("4"):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/ErrorResponse", f"{method} {path} {status}"
        if "requestBody" in op:
            assert {"400", "413", "422"} <= set(op["responses"]), f"{method} {path}"
        if op.get("parameters"):
            assert {"400", "422"} <= set(op["responses"]), f"{method} {path}"


def test_a_decision_documents_201_for_a_new_decision_and_200_for_a_replay() -> None:
    op = document("approvals")["paths"]["/cases/{proposal_id}/decisions"]["post"]
    assert {"200", "201"} <= set(op["responses"])
