"""API keys: one or more per agency, known only by their SHA-256 hashes from the agency registry
(`smartcity-admin api-key issue|revoke`). Every refused request is recorded (collection
`auth_refusals`) and counted, up to a rate per client address: past it the client gets 429 and
nothing more is written for it (so unauthenticated traffic cannot fill the database). An accepted
request records which key authenticated it."""

from __future__ import annotations

import datetime as dt
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import structlog
from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter
from pymongo.asynchronous.database import AsyncDatabase

from smartcity_th.contracts.agencies import Agency, UnknownAgency
from smartcity_th.services.common.context import authenticated_by
from smartcity_th.services.common.errors import HTTPRefusal
from smartcity_th.services.common.registry import RegistryProjection
from smartcity_th.services.common.registry_admin import hash_key

log = structlog.get_logger(__name__)

AUTH_REFUSED = Counter("smartcity_http_auth_refused_total", "Refused HTTP credentials", ["reason"])
KEY_PREFIX = "sck_"


class RefusalLimiter:
    """A token bucket per client address: `burst` refusals at once, refilled at `per_minute`.
    At most `clients` addresses are tracked (the least recently seen is forgotten)."""

    def __init__(self, per_minute: float = 60, burst: int = 100, clients: int = 10_000) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clients = clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        allowed = tokens >= 1
        self._buckets[client] = (tokens - 1 if allowed else tokens, now)
        while len(self._buckets) > self._clients:
            self._buckets.popitem(last=False)
        return allowed


class ApiKeys:
    """API keys as the agency registry has them (issued and revoked by `smartcity-admin`);
    refusals are recorded in this service's own database."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        registry: RegistryProjection,
        limiter: RefusalLimiter | None = None,
    ) -> None:
        self._registry = registry
        self._refusals = db["auth_refusals"]
        self._limiter = limiter or RefusalLimiter()

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
        """Record a refused request; past the rate for its client, answer 429 instead and
        write nothing."""
        AUTH_REFUSED.labels(reason).inc()
        client = request.client.host if request.client else None
        if not self._limiter.allow(client or "-"):
            AUTH_REFUSED.labels("rate_limited").inc()
            raise HTTPRefusal(
                429,
                "too many refused requests from this address; wait and retry",
                "มีคำขอที่ถูกปฏิเสธจากที่อยู่นี้มากเกินไป กรุณารอแล้วลองใหม่",
                headers={"Retry-After": "10"},
            )
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
        raise HTTPRefusal(
            401,
            "missing API key: send it in the X-API-Key header",
            "ไม่พบ API key: กรุณาส่งในส่วนหัว X-API-Key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = keys.resolve(key)
    if found is None:
        await keys.record_refusal(request, "invalid")
        raise HTTPRefusal(
            401,
            "unknown or revoked API key",
            "API key ไม่ถูกต้องหรือถูกเพิกถอนแล้ว",
            headers={"WWW-Authenticate": "Bearer"},
        )
    caller, key_id = found
    request.state.api_key_id = key_id
    authenticated_by.set(f"api-key:{key_id}")
    return caller


# How a key may be sent, as the OpenAPI documents declare it (so "Authorize" works at /docs).
# `authenticate` reads the key itself; these only describe it and never refuse on their own.
API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    auto_error=False,
    description="The agency's API key (`smartcity-admin api-key issue AGENCY`)",
)
API_KEY_BEARER = HTTPBearer(
    scheme_name="ApiKeyBearer",
    auto_error=False,
    description="The same API key as a bearer token (`Authorization: Bearer sck_...`)",
)
KeyInHeader = Annotated[str | None, Security(API_KEY_HEADER)]
KeyAsBearer = Annotated[HTTPAuthorizationCredentials | None, Security(API_KEY_BEARER)]


def agency_dependency(keys: ApiKeys) -> Callable[..., Awaitable[Agency]]:
    """A FastAPI dependency: the calling agency, by its API key (401 without a current one)."""

    async def current_agency(request: Request, _key: KeyInHeader, _bearer: KeyAsBearer) -> Agency:
        return await authenticate(request, keys)

    return current_agency
