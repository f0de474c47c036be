"""What a scenario needs from the running stack, used as an outside agency uses it: API keys and
signing keys from the registry admin (`smartcity-admin`), HTTP calls, signed claims through the
integrator kit (`smartcity_kit`), polling, the mail sink."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pymongo import AsyncMongoClient

from contracts.common import Contract
from contracts.topics import Topics
from services.admin.cli import AdminSettings
from services.approvals.config import ApprovalsSettings
from services.common.registry_admin import RegistryAdmin, create_agency_kafka_credentials
from services.notifications.config import NotificationsSettings
from services.proposals.config import ProposalsSettings
from smartcity_kit import ClaimSigner, IntakeProducer, KafkaConnection

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


class StackClient:
    """Talks to the services as agencies do (HTTP with API keys, signed claims on the intake
    topic) and reads the mail sink. Keys come from the registry admin, as for any agency."""

    def __init__(self, mailpit_url: str | None = None) -> None:
        mailpit_url = mailpit_url or os.environ.get(
            "SMARTCITY_MAILPIT_URL", "http://127.0.0.1:8025"
        )
        self.proposals = ProposalsSettings()
        self.approvals = ApprovalsSettings()
        self.notifications = NotificationsSettings()
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            self.proposals.mongo_url, tz_aware=True
        )
        self.http = httpx.AsyncClient(timeout=30)
        self.mailpit = httpx.AsyncClient(base_url=mailpit_url, timeout=10)
        self._keys: dict[str, str] = {}
        self.admin_settings = AdminSettings()
        self.topics = Topics(self.admin_settings.topic_namespace)
        self.key_dir = (
            Path(os.environ.get("SMARTCITY_LOCAL_DIR", ROOT / ".local")) / "demo-signing-keys"
        )
        self._signers: dict[str, ClaimSigner] = {}
        self._kafka: dict[str, KafkaConnection] = {}
        self._intake: dict[str, IntakeProducer] = {}

    def url(self, service: str) -> str:
        settings = {
            "proposals": self.proposals,
            "approvals": self.approvals,
            "notifications": self.notifications,
        }[service]
        return f"http://{settings.http_host}:{settings.http_port}"

    def _admin(self) -> RegistryAdmin:
        return RegistryAdmin(self.admin_settings.kafka_bootstrap, self.topics)

    async def prepare(self, agency_ids: list[str]) -> None:
        """What the registry admin hands each agency of the scenario: an API key (`smartcity-
        admin api-key issue`) and a signing key pair (`smartcity-admin signing-key add`; the
        private half stays in .local/demo-signing-keys, reused by later runs)."""
        self.key_dir.mkdir(parents=True, exist_ok=True)
        async with self._admin() as admin:
            if not admin.state.agencies:
                await admin.seed()
            for agency_id in agency_ids:
                if agency_id not in self._keys:
                    self._keys[agency_id] = await admin.issue_api_key(agency_id, "demo")
                pem = self.key_dir / f"{agency_id}.pem"
                if pem.exists():
                    signer = ClaimSigner.from_pem(agency_id, pem)
                    known = admin.state.signing_keys.get(signer.key_id)
                    if known is None or known.revoked_at is not None:
                        pem.unlink()
                if not pem.exists():
                    new = await admin.register_signing_key(agency_id)
                    pem.write_bytes(new.private_pem())
                    pem.chmod(0o600)
                self._signers[agency_id] = ClaimSigner.from_pem(agency_id, pem)
                self._kafka[agency_id] = await self._connection(agency_id)

    async def _connection(self, agency_id: str) -> KafkaConnection:
        """The agency's own Kafka credentials, as the admin creates them (none are needed on a
        PLAINTEXT broker: then SMARTCITY_KIT_* or plain bootstrap servers)."""
        bootstrap = self.admin_settings.kafka_bootstrap
        credentials = await create_agency_kafka_credentials(
            bootstrap, agency_id, self.topics.namespace
        )
        if credentials is None:
            return KafkaConnection.from_env(bootstrap)
        return KafkaConnection(
            bootstrap,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=credentials.mechanism,
            username=credentials.username,
            password=credentials.password,
        )

    async def call(
        self, service: str, method: str, path: str, agency_id: str, **kwargs: Any
    ) -> httpx.Response:
        """An HTTP call with the agency's API key. A key issued a moment ago may not have
        reached the service's registry projection yet: a 401 is retried for a few seconds."""
        if agency_id not in self._keys:
            await self.prepare([agency_id])
        headers = {"X-API-Key": self._keys[agency_id], **kwargs.pop("headers", {})}
        deadline = time.monotonic() + 15
        while True:
            resp = await self.http.request(
                method, self.url(service) + path, headers=headers, **kwargs
            )
            if resp.status_code != 401 or time.monotonic() > deadline:
                return resp
            await asyncio.sleep(0.2)

    async def claim(self, agency_id: str, payload: Contract, proposal_id: str) -> None:
        """A signed claim on the intake topic, produced with the integrator kit."""
        if agency_id not in self._signers:
            await self.prepare([agency_id])
        if agency_id not in self._intake:
            intake = IntakeProducer(self._kafka[agency_id], self.topics.intake)
            await intake.__aenter__()
            self._intake[agency_id] = intake
        record = self._signers[agency_id].claim(payload, proposal_id=proposal_id)
        await self._intake[agency_id].send(record)

    async def all_proposal_ids(self) -> list[str]:
        resp = await self.call("approvals", "GET", "/cases", "depa", params={"limit": 1000})
        resp.raise_for_status()
        return [case["proposal_id"] for case in resp.json()]

    async def reset(self, console: Any) -> None:
        """Stop the services, delete their databases and the caught mail, start them again.
        (Kafka keeps its history; the services' consumer groups are already past it.)"""
        from services.console.config import ConsoleSettings

        services = ["proposals", "approvals", "notifications", "console"]
        script = str(ROOT / "infra" / "services.sh")
        console.print("Resetting the demo data: stopping the services…")
        await asyncio.to_thread(subprocess.run, ["bash", script, "down", *services], check=True)

        for db in (
            self.proposals.mongo_db,
            self.approvals.mongo_db,
            self.notifications.mongo_db,
            ConsoleSettings().mongo_db,
        ):
            await self.mongo.drop_database(db)
        await self.mailpit.delete("/api/v1/messages")
        self._keys.clear()
        self._signers.clear()
        console.print("…databases and caught mail deleted; starting the services again.")
        await asyncio.to_thread(subprocess.run, ["bash", script, "up", *services], check=True)

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
        await self.mongo.close()


async def wait_for(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await probe()
        if result not in (None, False):
            found: T = result
            return found
        await asyncio.sleep(0.25)
    raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")
