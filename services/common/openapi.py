"""Each service's OpenAPI document, made to describe the API as it answers (issue 25).

FastAPI documents a `{"detail": [...]}` body for 422, which no service sends, and nothing for the
refusals that middleware and dependencies answer. This completes every operation once the routes
are known, from what the operation has:
- every 4xx answer, documented or added here, has the one error body (`ErrorResponse`, built
  by `services/common/errors.py`);
- with a security requirement (an API-key dependency, `services/common/auth.py`): 401 (no current
  key) and 429 (too many refused requests from the address);
- with parameters: 400 (text no store can keep, in the path or query) and 422 (invalid values);
- with a body: 400 (not JSON), 413 (larger than the service accepts) and 422.
What a route itself refuses (403, 404, 409, ...) it declares in its `responses`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from smartcity_th.contracts.proposals import ErrorResponse

ERROR_SCHEMA = "ErrorResponse"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
GENERIC = {
    400: "Text no store can keep (NUL, lone surrogates) in the path or query, or a body that "
    "is not JSON",
    401: "Missing, unknown or revoked API key",
    413: "Request body too large",
    422: "Field-precise validation errors",
    429: "Too many refused requests from this address (Retry-After says when to try again)",
}
FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def error_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every operation's refusals documented in the one error body."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    error = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error.pop("$defs", {}))
    # A refusal may say more about what it refused (approvals adds the decision's outcome, the
    # proposal and its stage): clients read the three fields and must tolerate others.
    error["additionalProperties"] = True
    error["description"] = (
        "Every refusal of every service: a reason in English and Thai, and field-precise "
        "errors; it may carry more fields about what was refused"
    )
    schemas[ERROR_SCHEMA] = error
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in METHODS:
                _complete_operation(method, operation)
    for name in FASTAPI_VALIDATION:
        schemas.pop(name, None)
    return schema


def _complete_operation(method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses: set[int] = set()
    if operation.get("security"):
        statuses |= {401, 429}
    if operation.get("parameters"):
        statuses |= {400, 422}
    if "requestBody" in operation:
        statuses |= {400, 413, 422}  # 400: a body that is not JSON at all
    elif method in {"post", "put", "patch"}:
        statuses |= {413, 422}
    for code in sorted(statuses):
        responses.setdefault(str(code), {"description": GENERIC[code]})
    for status, response in responses.items():
        if status.isdigit() and 400 <= int(status) < 500:
            if status == "422":
                response["description"] = GENERIC[422]
            response["content"] = error_content()


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (and so at /docs)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
