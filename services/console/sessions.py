"""Operator logins for the web console: the cookie holds only a random session id, signed with
`itsdangerous` (HMAC-SHA256 under a key kept in the console's database); the session (which
agency, which API key opened it, until when, its CSRF token) lives in that database.

A session is only as good as the key that opened it: on every request it is checked against the
agency registry (the projection every service follows), not against the CSV directory, by the
pure rule `session_refusal`: the key must still be current and its agency known. So revoking the
key (`smartcity-admin revoke`, `revoke-agency`) ends the session as soon as the console's
projection has the revocation (seconds), and an operator agency onboarded through the registry
can log in. Whether the agency's kind may use the console is the caller's question
(`views.may_use_console`). Expired sessions are refused and purged (at each login, and when an
expired one is presented); a session that fails the registry check is deleted.

Served over HTTPS (`CONSOLE_HTTPS=true`), the cookie is `Secure` and named with the `__Host-`
prefix (so no subdomain and no plain-HTTP page can set or read it)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, Signer
from prometheus_client import Counter
from pymongo.asynchronous.database import AsyncDatabase

from smartcity_th.contracts.agencies import Agency
from smartcity_th.contracts.registry import Registry
from smartcity_th.services.common.registry import RegistryProjection

COOKIE = "smartcity_console"
SECURE_COOKIE = "__Host-smartcity_console"
MAX_COOKIE_CHARS = 200

SESSIONS_ENDED = Counter(
    "smartcity_console_sessions_ended_total",
    "Console sessions refused and deleted because the registry no longer backs them",
    ["reason"],
)


def session_refusal(
    registry: Registry, agency_id: str, key_id: str | None, at: dt.datetime
) -> str | None:
    """Why a session opened by `agency_id` with the API key `key_id` no longer stands at `at`,
    or None: the key must be current in the registry (`Registry.current_api_key_by_id`, the
    rule every API request is judged by) and be that agency's. A session stored before
    sessions recorded their key has none and no longer stands either."""
    if not key_id:
        return "no_key"
    entry = registry.current_api_key_by_id(key_id, at)
    if entry is None or entry.agency_id != agency_id:
        return "key_not_current"
    return None


@dataclass(frozen=True)
class Session:
    sid: str
    agency: Agency
    key_id: str
    csrf: str

    def csrf_ok(self, token: str | None) -> bool:
        """Whether a state-changing form carries this session's CSRF token."""
        return bool(token) and hmac.compare_digest(str(token), self.csrf)


class Sessions:
    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        hours: float,
        registry: RegistryProjection,
        *,
        https: bool = False,
    ) -> None:
        self._sessions = db["sessions"]
        self._secrets = db["secrets"]
        self._ttl = dt.timedelta(hours=hours)
        self._registry = registry
        self._signer: Signer | None = None
        self.https = https
        self.cookie = SECURE_COOKIE if https else COOKIE
        """The session cookie's name."""

    async def load_secret(self) -> None:
        doc = await self._secrets.find_one({"_id": "session-hmac"})
        if doc is None:
            await self._secrets.update_one(
                {"_id": "session-hmac"},
                {"$setOnInsert": {"key": secrets.token_hex(32)}},
                upsert=True,
            )
            doc = await self._secrets.find_one({"_id": "session-hmac"})
        assert doc is not None
        self._signer = Signer(
            bytes.fromhex(doc["key"]),
            salt="smartcity-console-session",
            digest_method=hashlib.sha256,
        )

    def _sign(self, sid: str) -> str:
        assert self._signer is not None, "load_secret() first"
        return self._signer.sign(sid).decode("ascii")

    def sid_of(self, cookie: str | None) -> str | None:
        """The session id of a cookie whose signature holds, else None."""
        if not cookie or len(cookie) > MAX_COOKIE_CHARS or self._signer is None:
            return None
        try:
            return self._signer.unsign(cookie).decode("ascii")
        except (BadSignature, UnicodeError):
            return None

    def cookie_options(self) -> dict[str, Any]:
        """How the session cookie is set and deleted (the same attributes both times)."""
        return {"httponly": True, "samesite": "strict", "path": "/", "secure": self.https}

    async def open(self, who: Agency, key_id: str) -> str:
        """A new session of `who`, opened with the API key `key_id`; returns the cookie value."""
        sid = secrets.token_urlsafe(24)
        now = dt.datetime.now(dt.UTC)
        await self.purge(now)
        await self._sessions.insert_one(
            {
                "_id": sid,
                "agency_id": who.agency_id,
                "key_id": key_id,
                "csrf": secrets.token_urlsafe(24),
                "opened_at": now,
                "expires_at": now + self._ttl,
            }
        )
        return self._sign(sid)

    async def purge(self, now: dt.datetime | None = None) -> int:
        """Delete every expired session; returns how many."""
        result = await self._sessions.delete_many(
            {"expires_at": {"$lt": now or dt.datetime.now(dt.UTC)}}
        )
        return int(result.deleted_count)

    async def purge_expired(self) -> None:
        await self.purge()

    async def lookup(self, cookie: str | None) -> Session | None:
        """The session of a cookie, if it is signed, not expired, and still backed by the
        registry (`session_refusal`); a session that is not is deleted."""
        sid = self.sid_of(cookie)
        if sid is None:
            return None
        doc = await self._sessions.find_one({"_id": sid})
        if doc is None:
            return None
        now = dt.datetime.now(dt.UTC)
        expires = doc["expires_at"]
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        if expires < now:
            await self._sessions.delete_one({"_id": sid})
            return None
        agency_id = str(doc["agency_id"])
        key_id = doc.get("key_id")
        refused = session_refusal(self._registry.state, agency_id, key_id, now)
        if refused is not None:
            SESSIONS_ENDED.labels(refused).inc()
            await self._sessions.delete_one({"_id": sid})
            return None
        return Session(sid, self._registry.agency(agency_id), str(key_id), str(doc.get("csrf", "")))

    async def resolve(self, cookie: str | None) -> Agency | None:
        session = await self.lookup(cookie)
        return None if session is None else session.agency

    async def close(self, cookie: str | None) -> None:
        sid = self.sid_of(cookie)
        if sid is not None:
            await self._sessions.delete_one({"_id": sid})
