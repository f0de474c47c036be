"""What a scenario needs from the running stack, used as an outside agency and its operator use
it: keys and Kafka credentials from the registry admin's documented command (`smartcity-admin
... --output json`, run as a program), HTTP calls, signed claims through the integrator kit
(`smartcity_th.kit`), polling, the mail sink, and the operator's `smartcity-admin reset-local`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from smartcity_th.contracts.common import Contract
from smartcity_th.kit import ClaimSigner, IntakeProducer, KafkaConnection

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORTS = {"proposals": 8001, "approvals": 8002, "notifications": 8003, "console": 8004}
"""README, "What runs where"; `<SERVICE>_HTTP_HOST` and `<SERVICE>_HTTP_PORT` override them,
as they do for the services."""


def service_url(service: str) -> str:
    prefix = service.upper()
    host = os.environ.get(f"{prefix}_HTTP_HOST", "127.0.0.1")
    port = os.environ.get(f"{prefix}_HTTP_PORT", str(DEFAULT_PORTS[service]))
    return f"http://{host}:{port}"


def mailpit_url() -> str:
    port = os.environ.get("SMARTCITY_MAILPIT_HTTP_PORT", "8025")
    return os.environ.get("SMARTCITY_MAILPIT_URL") or f"http://127.0.0.1:{port}"


async def admin(*args: str, capture: bool = True, timeout: float = 300) -> str:
    """Run `smartcity-admin ARGS` (the same environment: its Kafka, its namespace) and return
    what it printed; a failure raises RuntimeError with its output."""
    pipe = asyncio.subprocess.PIPE if capture else None
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smartcity_th.services.admin.cli",
        *args,
        cwd=ROOT,
        stdout=pipe,
        stderr=pipe,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    if proc.returncode != 0:
        printed = ((out or b"") + (err or b"")).decode(errors="replace")[-2000:]
        raise RuntimeError(f"smartcity-admin {' '.join(args[:2])} failed: {printed}")
    return (out or b"").decode()


async def admin_json(*args: str) -> Any:
    return json.loads(await admin(*args, "--output", "json"))


class StackClient:
    """Talks to the services as agencies do (HTTP with API keys, signed claims on the intake
    topic) and reads the mail sink. Keys come from the registry admin, as for any agency."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(timeout=30)
        self.mailpit_url = mailpit_url()
        self.mailpit = httpx.AsyncClient(base_url=self.mailpit_url, timeout=10)
        self.key_dir = (
            Path(os.environ.get("SMARTCITY_LOCAL_DIR", ROOT / ".local")) / "demo-signing-keys"
        )
        self._seeded = False
        self._lock = asyncio.Lock()
        self._keys: dict[str, str] = {}
        self._signers: dict[str, ClaimSigner] = {}
        self._intake: dict[str, IntakeProducer] = {}
        self._intake_lock = asyncio.Lock()
        self._kafka: dict[str, tuple[KafkaConnection, str]] = {}

    def url(self, service: str) -> str:
        return service_url(service)

    async def prepare(self, agency_ids: list[str], claimants: tuple[str, ...] = ()) -> None:
        """What the registry admin hands the scenario's agencies: an API key each (`smartcity-
        admin api-key issue`), and to those that make claims a signing key pair (`signing-key
        add`; the private half stays in .local/demo-signing-keys, reused by later runs while
        the registry holds it) and Kafka credentials (`kafka-credentials`)."""
        async with self._lock:
            if not self._seeded:
                await admin("seed")
                self._seeded = True
            missing = [a for a in agency_ids if a not in self._keys]
            if missing:
                self._keys |= await admin_json("api-key", "issue", *missing, "--label", "demo")
            unsigned = [a for a in claimants if a not in self._signers]
            if unsigned:
                self.key_dir.mkdir(parents=True, exist_ok=True)
                live = {
                    row["id"]
                    for row in await admin_json("list")
                    if row["kind"] == "signing" and row["revoked"] is None
                }
                await asyncio.gather(*(self._claimant(a, live) for a in unsigned))

    async def _claimant(self, agency_id: str, live_keys: set[str]) -> None:
        signer = None
        kept_files = [
            *self.key_dir.glob(f"{agency_id}.pem"),
            *self.key_dir.glob(f"{agency_id}_*.pem"),
        ]
        for pem in sorted(kept_files):
            kept = ClaimSigner.from_pem(agency_id, pem)
            if signer is None and kept.key_id in live_keys:
                signer = kept
            elif kept.key_id not in live_keys:
                pem.unlink()
        if signer is None:
            new = await admin_json("signing-key", "add", agency_id, "--out", str(self.key_dir))
            signer = ClaimSigner.from_pem(agency_id, Path(new["private_key"]))
        credentials = await admin_json("kafka-credentials", agency_id)
        self._signers[agency_id] = signer
        self._kafka[agency_id] = (connection(credentials), credentials["intake_topic"])

    async def call(
        self, service: str, method: str, path: str, agency_id: str, **kwargs: Any
    ) -> httpx.Response:
        """An HTTP call with the agency's API key. A key issued a moment ago may not have
        reached the service's registry projection yet: a 401 is retried for a few seconds."""
        if agency_id not in self._keys:
            await self.prepare([agency_id])
        headers = {"X-API-Key": self._keys[agency_id], **kwargs.pop("headers", {})}
        # A request that may be sent twice (a read, or a write with its Idempotency-Key) is sent
        # again when the service closed the kept-alive connection under it without answering
        # (uvicorn closes one idle for 5 s; a request sent at that moment gets no answer).
        resendable = method == "GET" or "Idempotency-Key" in headers
        deadline = time.monotonic() + 15
        dropped = 0
        while True:
            try:
                resp = await self.http.request(
                    method, self.url(service) + path, headers=headers, **kwargs
                )
            except (httpx.ReadError, httpx.RemoteProtocolError):
                dropped += 1
                if not resendable or dropped > 2:
                    raise
                continue
            if resp.status_code != 401 or time.monotonic() > deadline:
                return resp
            await asyncio.sleep(0.2)

    async def claim(self, agency_id: str, payload: Contract, proposal_id: str) -> None:
        """A signed claim on the intake topic, produced with the integrator kit."""
        if agency_id not in self._signers:
            await self.prepare([agency_id], claimants=(agency_id,))
        async with self._intake_lock:  # concurrent claims of one agency share one producer
            if agency_id not in self._intake:
                intake = IntakeProducer(*self._kafka[agency_id])
                await intake.__aenter__()
                self._intake[agency_id] = intake
        record = self._signers[agency_id].claim(payload, proposal_id=proposal_id)
        await self._intake[agency_id].send(record)

    async def all_proposal_ids(self) -> list[str]:
        resp = await self.call("approvals", "GET", "/cases", "depa", params={"limit": 1000})
        resp.raise_for_status()
        return [case["proposal_id"] for case in resp.json()]

    async def reset(self, console: Any) -> None:
        """The operator's `smartcity-admin reset-local --yes`: the services stopped, their
        databases and the caught mail deleted, the services started again. (Kafka keeps its
        history; the services' consumer groups are already past it.)"""
        console.print("Resetting the demo data: smartcity-admin reset-local --yes")
        await admin("reset-local", "--yes", capture=False)
        self._keys.clear()
        self._signers.clear()

    async def mails_about(self, text: str) -> list[dict[str, Any]]:
        resp = await self.mailpit.get(
            "/api/v1/search", params={"query": f'"{text}"', "limit": 1000}
        )
        resp.raise_for_status()
        return list(resp.json()["messages"])

    async def close(self) -> None:
        for intake in self._intake.values():
            await intake.__aexit__(None, None, None)
        await self.http.aclose()
        await self.mailpit.aclose()


def connection(credentials: dict[str, Any]) -> KafkaConnection:
    """The integrator kit's connection from `smartcity-admin kafka-credentials --output json`
    (none are needed on a PLAINTEXT broker: then SMARTCITY_KIT_* or the plain bootstrap
    servers)."""
    if credentials["username"] is None:
        return KafkaConnection.from_env(credentials["bootstrap"])
    return KafkaConnection(
        credentials["bootstrap"],
        security_protocol=credentials["security_protocol"],
        sasl_mechanism=credentials["sasl_mechanism"],
        username=credentials["username"],
        password=credentials["password"],
        ssl_cafile=credentials["ssl_cafile"],
    )


async def wait_for(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await probe()
        if result not in (None, False):
            found: T = result
            return found
        await asyncio.sleep(0.25)
    raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")
