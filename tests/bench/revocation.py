"""Time from `smartcity-admin revoke` until every service refuses the key: an API key of depa is
issued, seen by every service, revoked; each service is then polled (every 20 ms, bounded)
until it answers 401. Reported by `make bench` as `revocation_s` (per service, and the max)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.registry_admin import RegistryAdmin
from tests.support import KAFKA, ServiceProcess, wait_key_accepted

PROBES = {"proposals": "/proposals", "approvals": "/cases", "notifications": "/recipients"}


async def measure(procs: dict[str, ServiceProcess], topics: Topics) -> dict[str, Any]:
    async with RegistryAdmin(KAFKA, topics) as admin:
        key = await admin.issue_api_key("depa", "revocation bench")
        for name, proc in procs.items():
            await wait_key_accepted(proc.url, key, PROBES[name])
        started = time.monotonic()
        await admin.revoke(key)
    published = time.monotonic()

    async def refused(name: str, proc: ServiceProcess) -> float:
        async with httpx.AsyncClient(base_url=proc.url, timeout=10) as http:
            deadline = started + 60
            while time.monotonic() < deadline:
                r = await http.get(PROBES[name], headers={"X-API-Key": key})
                if r.status_code == 401:
                    return time.monotonic() - started
                await asyncio.sleep(0.02)
        raise TimeoutError(f"{name} still accepts the revoked key after 60 s")

    times = await asyncio.gather(*(refused(n, p) for n, p in procs.items()))
    per_service = {n: round(t, 3) for n, t in zip(procs, times, strict=True)}
    return {
        "revocation_s": {
            "command": round(published - started, 3),
            "per_service": per_service,
            "max": max(per_service.values()),
        }
    }
