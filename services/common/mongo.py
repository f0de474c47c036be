"""MongoDB access through PyMongo's native async API (works on MongoDB and on FerretDB)."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient


def make_client(
    url: str, app_name: str, max_pool_size: int = 10
) -> AsyncMongoClient[dict[str, Any]]:
    """One client per process and event loop; timezone-aware datetimes come back as UTC. At most
    `max_pool_size` connections: more requests than that wait for one instead of opening more
    (docs/architecture.md, "FerretDB 1.24 as found here", says why the bound matters)."""
    return AsyncMongoClient(
        url,
        tz_aware=True,
        appname=app_name,
        maxPoolSize=max_pool_size,
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=3000,
    )


def is_duplicate_key(exc: BaseException) -> bool:
    return getattr(exc, "code", None) == 11000
