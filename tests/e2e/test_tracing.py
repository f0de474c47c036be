"""One submission is one trace, across every service, ending at the SMTP send: checked through
Jaeger's query API, with the services as real processes exporting over OTLP."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from smartcity_th.services.console.cli import app
from tests.e2e.test_walking_skeleton import DRAFT, submit
from tests.support import JAEGER, Mailpit, ServiceProcess, poll

pytestmark = pytest.mark.e2e

SERVICES = {"proposals", "approvals", "notifications", "console"}


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {t["key"]: t["value"] for t in span.get("tags", [])}


async def traces_of(proposal_id: str) -> list[dict[str, Any]]:
    """The traces Jaeger holds with a span about this proposal (from any service)."""
    async with httpx.AsyncClient(base_url=JAEGER, timeout=10) as http:
        found: dict[str, dict[str, Any]] = {}
        for service in sorted(SERVICES):
            resp = await http.get(
                "/api/traces",
                params={
                    "service": service,
                    "tags": json.dumps({"smartcity.proposal_id": proposal_id}),
                    "lookback": "1h",
                    "limit": "50",
                },
            )
            if resp.status_code != 200:
                continue
            for t in resp.json().get("data") or []:
                found[t["traceID"]] = t
        return list(found.values())


def services_in(trace: dict[str, Any]) -> set[str]:
    return {p["serviceName"] for p in trace["processes"].values()}


def ancestors(trace: dict[str, Any], span: dict[str, Any]) -> list[dict[str, Any]]:
    by_id = {s["spanID"]: s for s in trace["spans"]}
    chain = []
    current: dict[str, Any] | None = span
    while current is not None:
        parent = next((r["spanID"] for r in current.get("references", [])), None)
        current = by_id.get(parent) if parent else None
        if current is not None:
            chain.append(current)
    return chain


async def test_one_submission_is_one_trace_from_http_to_smtp(
    services: dict[str, ServiceProcess],
    console: ServiceProcess,
    console_key: str,
    api_keys: dict[tuple[str, str], str],
    mailpit: Mailpit,
) -> None:
    resp = await submit(services, api_keys[("proposals", "lg-phuket-city")], DRAFT)
    assert resp.status_code == 201, resp.text
    pid = resp.json()["proposal_id"]

    def whole(trace: dict[str, Any]) -> bool:
        """Every service's spans are in, and every SMTP send's chain of parents is complete
        up to a root (each service exports in batches: on a loaded machine the HTTP request's
        own span can reach Jaeger after the spans under it)."""
        by_id = {s["spanID"] for s in trace["spans"]}
        smtp = [s for s in trace["spans"] if s["operationName"] == "smtp send"]
        return (
            services_in(trace) >= SERVICES
            and bool(smtp)
            and all(
                all(r["spanID"] in by_id for r in a.get("references", []))
                for span in smtp
                for a in [span, *ancestors(trace, span)]
            )
        )

    async def complete() -> list[dict[str, Any]] | None:
        traces = await traces_of(pid)
        return traces if any(whole(t) for t in traces) else None

    traces = await poll(complete, timeout=180, interval=1.0, what="the submission's trace")
    assert len(traces) == 1, [services_in(t) for t in traces]
    [trace] = traces
    assert services_in(trace) >= SERVICES

    spans = trace["spans"]
    roots = [s for s in spans if not s.get("references")]
    assert len(roots) == 1
    [root] = roots
    assert trace["processes"][root["processID"]]["serviceName"] == "proposals"
    assert "POST" in root["operationName"]

    smtp = [s for s in spans if s["operationName"] == "smtp send"]
    assert smtp, "no SMTP span"
    for span in smtp:
        tags = _tags(span)
        assert tags["smartcity.proposal_id"] == pid
        assert tags["smartcity.event_type"] == "ProposalSubmitted"
        assert trace["processes"][span["processID"]]["serviceName"] == "notifications"
        chain = ancestors(trace, span)
        assert chain[-1]["spanID"] == root["spanID"]  # HTTP request → ... → SMTP send
        hops = {trace["processes"][s["processID"]]["serviceName"] for s in chain}
        assert {"proposals", "notifications"} <= hops

    consumed = [
        s
        for s in spans
        if _tags(s).get("smartcity.event_type") == "ProposalSubmitted"
        and trace["processes"][s["processID"]]["serviceName"] in {"approvals", "notifications"}
    ]
    assert consumed, "no consumer span carries the event type"
    assert any(
        s["operationName"].startswith("mongodb") or "find" in s["operationName"] for s in spans
    ), "no MongoDB span"

    # The console links the event to this trace; the CLI prints its address.
    headers = {"X-API-Key": console_key}
    async with httpx.AsyncClient(base_url=console.url, timeout=10, headers=headers) as http:
        linked = await poll(
            lambda: _traces_api(http, pid), timeout=30, what="the console's trace links"
        )
    assert linked[0]["trace_id"] == trace["traceID"]
    env = {"CONSOLE_URL": console.url, "CONSOLE_API_KEY": console_key}
    result = CliRunner().invoke(app, ["trace", pid], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"/trace/{trace['traceID']}")


async def _traces_api(http: httpx.AsyncClient, pid: str) -> list[dict[str, Any]] | None:
    resp = await http.get(f"/api/proposals/{pid}/traces")
    return resp.json() if resp.status_code == 200 and resp.json() else None
