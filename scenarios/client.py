"""What a scenario needs from the running stack: API keys, HTTP calls, polling, the mail sink."""

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

from services.approvals.config import ApprovalsSettings
from services.common.auth import ApiKeys
from services.notifications.config import NotificationsSettings
from services.proposals.config import ProposalsSettings

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


class StackClient:
    """Talks to the services as agencies do (HTTP with API keys) and reads the mail sink."""

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
        self._keys: dict[tuple[str, str], str] = {}

    def url(self, service: str) -> str:
        settings = {
            "proposals": self.proposals,
            "approvals": self.approvals,
            "notifications": self.notifications,
        }[service]
        return f"http://{settings.http_host}:{settings.http_port}"

    async def key(self, service: str, agency_id: str) -> str:
        """An API key for `agency_id` at `service`, issued as the admin command would."""
        if (service, agency_id) not in self._keys:
            db = {
                "proposals": self.proposals.mongo_db,
                "approvals": self.approvals.mongo_db,
                "notifications": self.notifications.mongo_db,
            }[service]
            self._keys[(service, agency_id)] = await ApiKeys(self.mongo[db]).issue(
                agency_id, "demo"
            )
        return self._keys[(service, agency_id)]

    async def call(
        self, service: str, method: str, path: str, agency_id: str, **kwargs: Any
    ) -> httpx.Response:
        headers = {"X-API-Key": await self.key(service, agency_id), **kwargs.pop("headers", {})}
        return await self.http.request(method, self.url(service) + path, headers=headers, **kwargs)

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
        console.print("…databases and caught mail deleted; starting the services again.")
        await asyncio.to_thread(subprocess.run, ["bash", script, "up", *services], check=True)

    async def mails_about(self, text: str) -> list[dict[str, Any]]:
        resp = await self.mailpit.get(
            "/api/v1/search", params={"query": f'"{text}"', "limit": 1000}
        )
        resp.raise_for_status()
        return list(resp.json()["messages"])

    async def close(self) -> None:
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
