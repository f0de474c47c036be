"""Security headers on every response of every HTTP service (issue 24): the JSON APIs, the
OpenAPI pages, refusals and a forced 500, answered by each service's real app (built as its
bootstrap builds it; no servers needed for these routes). The status page, which needs the
running notifications service, is checked in tests/integration/test_notifications_service.py."""

from __future__ import annotations

import re
import typing
from importlib import import_module

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic_core import PydanticUndefined

from smartcity_th.services.common.web_security import API_CSP, DOCS_CSP
from smartcity_th.services.console.entrypoints.web import CSP as CONSOLE_CSP
from smartcity_th.services.notifications.rendering import (
    StatusProblem,
    render_status_page,
    status_page_csp,
)

SERVICES = ("proposals", "approvals", "notifications", "console")
ERROR_SHAPE = {"error", "error_th", "errors"}


def app_of(service: str) -> FastAPI:
    bootstrap = import_module(f"smartcity_th.services.{service}.bootstrap")
    settings_cls = typing.get_type_hints(bootstrap.build)["settings"]
    defaults = {
        name: field.default
        for name, field in settings_cls.model_fields.items()
        if field.default is not PydanticUndefined
    }
    _runtime, app = bootstrap.build(settings_cls(**defaults | {"tracing_enabled": False}))

    async def boom() -> None:
        raise RuntimeError("forced by the test")

    app.add_api_route("/test-forced-500", boom)
    built: FastAPI = app
    return built


def assert_secure(resp: typing.Any, csp: str) -> None:
    assert resp.headers["content-security-policy"] == csp
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in csp


@pytest.mark.parametrize("service", SERVICES)
def test_every_response_of_every_service_carries_the_security_headers(service: str) -> None:
    own = CONSOLE_CSP if service == "console" else API_CSP
    # No lifespan: the routes below need neither Kafka nor MongoDB.
    http = TestClient(app_of(service), raise_server_exceptions=False)
    for path in ("/metrics", "/openapi.json", "/no-such-page", "/x?q=%00"):
        resp = http.get(path)
        assert resp.status_code < 500, path
        assert_secure(resp, own)
    assert_secure(http.get("/docs"), DOCS_CSP)

    forced = http.get("/test-forced-500")
    assert forced.status_code == 500
    assert set(forced.json()) == ERROR_SHAPE
    assert "RuntimeError" not in forced.text  # nothing of the cause leaks
    assert_secure(forced, own)
    if service == "console":
        assert forced.headers["cache-control"] == "no-store"


def test_the_status_page_policy_allows_exactly_its_style_sheet_on_every_page() -> None:
    """The sheet's hash is taken from one page; every page (a proposal's included) has the same
    sheet, so a browser applies it under the policy."""
    import base64
    import hashlib

    proposal = {
        "_id": "UDN-2568-01",
        "area_name": {"th": "อุดร <b>", "en": "Udon"},
        "province": {"code": "41", "name_th": "อุดรธานี", "name_en": "Udon Thani"},
        "stage": "submitted",
        "history": [],
    }
    for page in (
        render_status_page(proposal, None),
        render_status_page(None, StatusProblem.EXPIRED),
    ):
        sheets = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
        assert len(sheets) == 1
        digest = base64.b64encode(hashlib.sha256(sheets[0].encode()).digest()).decode()
        assert f"'sha256-{digest}'" in status_page_csp()
        assert "<script" not in page
