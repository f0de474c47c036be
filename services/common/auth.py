"""API keys: one or more per agency, known only by their SHA-256 hashes from the agency registry
(`smartcity-admin api-key issue|revoke`). Every refused request is recorded (collection
`auth_refusals`) and counted; an accepted one records which key authenticated it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from fastapi import HTTPException, Request
from prometheus_client import Counter
from pymongo.asynchronous.database import AsyncDatabase

from contracts.agencies import Agency, UnknownAgency
from services.common.context import authenticated_by
from services.common.registry import RegistryProjection
from services.common.registry_admin import hash_key

log = structlog.get_logger(__name__)

AUTH_REFUSED = Counter("smartcity_http_auth_refused_total", "Refused HTTP credentials", ["reason"])


class ApiKeys:
    """API keys as the agency registry has them (issued and revoked by `smartcity-admin`);
    refusals are recorded in this service's own database."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], registry: RegistryProjection) -> None:
        self._registry = registry
        self._refusals = db["auth_refusals"]

    def resolve(self, key: str) -> tuple[Agency, str] | None:
        """The agency of a current key and the key's id, or None."""
        entry = self._registry.state.current_api_key(hash_key(key), dt.datetime.now(dt.UTC))
        if entry is None:
            return None
        try:
            return self._registry.agency(entry.agency_id), entry.key_id
        except UnknownAgency:
            return None

    async def record_refusal(self, request: Request, reason: str) -> None:
        AUTH_REFUSED.labels(reason).inc()
        client = request.client.host if request.client else None
        log.warning("http.auth_refused", reason=reason, path=request.url.path, client=client)
        await self._refusals.insert_one(
            {
                "at": dt.datetime.now(dt.UTC),
                "reason": reason,
                "method": request.method,
                "path": request.url.path,
                "client": client,
            }
        )


def api_key_from(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


async def authenticate(request: Request, keys: ApiKeys) -> Agency:
    key = api_key_from(request)
    if not key:
        await keys.record_refusal(request, "missing")
        raise HTTPException(
            401,
            detail={
                "error": "missing API key: send it in the X-API-Key header",
                "error_th": "ไม่พบ API key: กรุณาส่งในส่วนหัว X-API-Key",
            },
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = keys.resolve(key)
    if found is None:
        await keys.record_refusal(request, "invalid")
        raise HTTPException(
            401,
            detail={
                "error": "unknown or revoked API key",
                "error_th": "API key ไม่ถูกต้องหรือถูกเพิกถอนแล้ว",
            },
            headers={"WWW-Authenticate": "Bearer"},
        )
    caller, key_id = found
    request.state.api_key_id = key_id
    authenticated_by.set(f"api-key:{key_id}")
    return caller
