"""Operator logins for the web console: the cookie holds only a random session id and its HMAC;
the session (who, until when, its CSRF token) lives in the console's database. Expired sessions
are refused and purged (at each login, and when an expired one is presented)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from smartcity_th.contracts.agencies import Agency, UnknownAgency, agency

COOKIE = "smartcity_console"


@dataclass(frozen=True)
class Session:
    sid: str
    agency: Agency
    csrf: str

    def csrf_ok(self, token: str | None) -> bool:
        """Whether a state-changing form carries this session's CSRF token."""
        return bool(token) and hmac.compare_digest(str(token), self.csrf)


class Sessions:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], hours: float) -> None:
        self._sessions = db["sessions"]
        self._secrets = db["secrets"]
        self._ttl = dt.timedelta(hours=hours)
        self._key = b""

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
        self._key = bytes.fromhex(doc["key"])

    def _sign(self, sid: str) -> str:
        return hmac.new(self._key, sid.encode(), hashlib.sha256).hexdigest()

    async def open(self, who: Agency) -> str:
        sid = secrets.token_urlsafe(24)
        now = dt.datetime.now(dt.UTC)
        await self.purge(now)
        await self._sessions.insert_one(
            {
                "_id": sid,
                "agency_id": who.agency_id,
                "csrf": secrets.token_urlsafe(24),
                "opened_at": now,
                "expires_at": now + self._ttl,
            }
        )
        return f"{sid}.{self._sign(sid)}"

    async def purge(self, now: dt.datetime | None = None) -> int:
        """Delete every expired session; returns how many."""
        result = await self._sessions.delete_many(
            {"expires_at": {"$lt": now or dt.datetime.now(dt.UTC)}}
        )
        return int(result.deleted_count)

    async def purge_expired(self) -> None:
        await self.purge()

    async def lookup(self, cookie: str | None) -> Session | None:
        if not cookie or "." not in cookie or len(cookie) > 200:
            return None
        sid, sig = cookie.rsplit(".", 1)
        if not hmac.compare_digest(sig, self._sign(sid)):
            return None
        doc = await self._sessions.find_one({"_id": sid})
        if doc is None:
            return None
        expires = doc["expires_at"]
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        if expires < dt.datetime.now(dt.UTC):
            await self._sessions.delete_one({"_id": sid})
            return None
        try:
            return Session(sid, agency(doc["agency_id"]), str(doc.get("csrf", "")))
        except UnknownAgency:
            return None

    async def resolve(self, cookie: str | None) -> Agency | None:
        session = await self.lookup(cookie)
        return None if session is None else session.agency

    async def close(self, cookie: str | None) -> None:
        if cookie and "." in cookie:
            await self._sessions.delete_one({"_id": cookie.rsplit(".", 1)[0]})
