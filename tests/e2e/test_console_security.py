"""The console is an authenticated tool (issue 13): logins on every page and API, CSRF tokens,
a CSP without inline script, a cap on live streams, bounded limits, safe replays, rate-limited
refusals. Against the console running as a process on the real stack."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from tests.conftest import TEST_API_KEYS
from tests.support import Namespace, ServiceProcess

pytestmark = pytest.mark.e2e

ERROR_SHAPE = {"error", "error_th", "errors"}


def client(console: ServiceProcess, key: str | None = None) -> httpx.AsyncClient:
    headers = {"X-API-Key": key} if key else {}
    return httpx.AsyncClient(base_url=console.url, timeout=15, headers=headers)


async def test_every_page_and_api_needs_an_operator_login(
    console: ServiceProcess, ns: Namespace
) -> None:
    applicant = TEST_API_KEYS["lg-phuket-city"]
    des = TEST_API_KEYS["des-subcommittee"]
    async with client(console) as anonymous:
        for path in ("/events", "/registry", "/deadletters", "/deliveries", "/proposals/X-1"):
            resp = await anonymous.get(path)
            assert resp.status_code == 303, path
            assert resp.headers["location"].startswith("/login?next=")
        for path in ("/api/events", "/api/events/stream", "/api/deadletters", "/api/registry"):
            resp = await anonymous.get(path)
            assert resp.status_code == 401, path
            assert set(resp.json()) == ERROR_SHAPE
    async with client(console, applicant) as other_agency:
        resp = await other_agency.get("/api/events")
        assert resp.status_code == 403
        assert set(resp.json()) == ERROR_SHAPE
    async with client(console, des) as operator:
        assert (await operator.get("/api/events", params={"limit": 5})).status_code == 200
    async with client(console, console.api_key) as depa:
        for limit in (0, -1, 1001):
            bad = await depa.get("/api/events", params={"limit": limit})
            assert bad.status_code == 422, limit
            assert set(bad.json()) == ERROR_SHAPE
        assert (await depa.get("/api/audit/entries", params={"limit": 0})).status_code == 422


async def test_pages_send_a_csp_and_forms_carry_csrf_tokens(console: ServiceProcess) -> None:
    async with client(console) as browser:
        login = await browser.get("/login")
        csp = login.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
        assert "<script>" not in login.text
        token = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert token is not None
        forged = await browser.post(
            "/login", data={"api_key": console.api_key, "next": "/events", "csrf": "forged"}
        )
        assert forged.status_code == 403
        token = re.search(r'name="csrf" value="([^"]+)"', forged.text)  # a fresh form
        assert token is not None
        ok = await browser.post(
            "/login", data={"api_key": console.api_key, "next": "/events", "csrf": token.group(1)}
        )
        assert ok.status_code == 303
        page = await browser.get("/deadletters")
        assert page.status_code == 200
        assert "onsubmit" not in page.text
        assert "<script>" not in page.text
        no_token = await browser.post(f"/deadletters/{uuid.uuid4()}/replay", data={})
        assert no_token.status_code == 403


async def test_live_streams_are_capped_per_login(console: ServiceProcess) -> None:
    async with client(console, console.api_key) as depa, contextlib_streams(depa, 3) as opened:
        assert all(r.status_code == 200 for r in opened)
        extra = await depa.get("/api/events/stream")
        assert extra.status_code == 429
        assert set(extra.json()) == ERROR_SHAPE


class contextlib_streams:
    def __init__(self, http: httpx.AsyncClient, n: int) -> None:
        self._http = http
        self._n = n
        self._cms: list[Any] = []

    async def __aenter__(self) -> list[httpx.Response]:
        out = []
        for _ in range(self._n):
            cm = self._http.stream("GET", "/api/events/stream")
            out.append(await cm.__aenter__())
            self._cms.append(cm)
        return out

    async def __aexit__(self, *exc: object) -> None:
        for cm in self._cms:
            await cm.__aexit__(None, None, None)


async def test_refused_requests_are_rate_limited_before_they_are_written(
    console: ServiceProcess, ns: Namespace, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    """Past its burst (100) a client's refusals are answered 429 and no longer written; the
    bucket refills at one per second, which bounds what is written while this test runs."""
    refusals = mongo[ns.db("console")]["auth_refusals"]
    before = await refusals.count_documents({})
    started = time.monotonic()
    codes: list[int] = []
    async with client(console, "sck_not-a-key") as attacker:
        while 429 not in codes and len(codes) < 1000:
            codes.append((await attacker.get("/api/events")).status_code)
        limited = [(await attacker.get("/api/events")).status_code for _ in range(30)]
    elapsed = time.monotonic() - started
    assert set(codes) == {401, 429}
    assert limited.count(429) >= 30 - elapsed - 1
    written = await refusals.count_documents({}) - before
    assert written <= 100 + elapsed + 1
