"""API keys: one or more per agency, stored only as SHA-256 hashes, issued and revoked by an
admin command. Every refused request is recorded (collection `auth_refusals`) and counted."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

import structlog
from fastapi import HTTPException, Request
from prometheus_client import Counter
from pymongo.asynchronous.database import AsyncDatabase

from contracts.agencies import Agency, UnknownAgency, agency

log = structlog.get_logger(__name__)

AUTH_REFUSED = Counter("smartcity_http_auth_refused_total", "Refused HTTP credentials", ["reason"])
KEY_PREFIX = "sck_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeys:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._keys = db["api_keys"]
        self._refusals = db["auth_refusals"]

    async def issue(self, agency_id: str, label: str = "") -> str:
        agency(agency_id)  # raises UnknownAgency
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        await self._keys.insert_one(
            {
                "_id": hash_key(key),
                "agency_id": agency_id,
                "label": label,
                "issued_at": dt.datetime.now(dt.UTC),
                "revoked_at": None,
            }
        )
        return key

    async def revoke(self, key_or_hash: str) -> bool:
        digest = hash_key(key_or_hash) if key_or_hash.startswith(KEY_PREFIX) else key_or_hash
        result = await self._keys.update_one(
            {"_id": digest, "revoked_at": None}, {"$set": {"revoked_at": dt.datetime.now(dt.UTC)}}
        )
        return result.modified_count == 1

    async def list(self) -> list[dict[str, Any]]:
        return await self._keys.find(
            {}, {"_id": 1, "agency_id": 1, "label": 1, "issued_at": 1, "revoked_at": 1}
        ).to_list(None)

    async def resolve(self, key: str) -> Agency | None:
        doc = await self._keys.find_one({"_id": hash_key(key), "revoked_at": None})
        if doc is None:
            return None
        try:
            return agency(doc["agency_id"])
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
    found = await keys.resolve(key)
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
    return found
