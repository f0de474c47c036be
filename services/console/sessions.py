"""Operator logins for the web console: the cookie holds only a random session id and its HMAC;
the session (who, until when) lives in the console's database."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from contracts.agencies import Agency, UnknownAgency, agency

COOKIE = "smartcity_console"


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
        await self._sessions.insert_one(
            {
                "_id": sid,
                "agency_id": who.agency_id,
                "opened_at": now,
                "expires_at": now + self._ttl,
            }
        )
        return f"{sid}.{self._sign(sid)}"

    async def resolve(self, cookie: str | None) -> Agency | None:
        if not cookie or "." not in cookie:
            return None
        sid, sig = cookie.rsplit(".", 1)
        if not hmac.compare_digest(sig, self._sign(sid)):
            return None
        doc = await self._sessions.find_one({"_id": sid})
        if doc is None or doc["expires_at"] < dt.datetime.now(dt.UTC):
            return None
        try:
            return agency(doc["agency_id"])
        except UnknownAgency:
            return None

    async def close(self, cookie: str | None) -> None:
        if cookie and "." in cookie:
            await self._sessions.delete_one({"_id": cookie.rsplit(".", 1)[0]})
