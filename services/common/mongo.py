"""MongoDB access through PyMongo's native async API (works on MongoDB and on FerretDB), and the
store's credentials: every client logs in as its own principal (docs/security.md, "The local
stores")."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Any

from prometheus_client import Counter
from pymongo import AsyncMongoClient, monitoring

from smartcity_th.services.common.local_credentials import credentials_file, password_in

OPERATOR_PRINCIPAL = "admin"
"""The operators' principal on the store: tests, chaos, benchmarks, the restore drill's counts
(a member of every service's role, not a superuser)."""
WATCHDOG_PRINCIPAL = "storewatch"
"""infra/storewatch.py's principal: it may log in and ping, and use no database."""


def store_credentials_file() -> Path:
    return credentials_file("store", "SMARTCITY_STORE_CREDENTIALS_FILE")


def local_store_password(principal: str, path: Path | None = None) -> str:
    """The local stack's store password for `principal` (infra/stack.sh makes them once per
    stack, in `path`, by default .local/store/credentials), or "" when it has none."""
    return password_in(path or store_credentials_file(), principal)


def with_credentials(url: str, username: str, password: str, mechanism: str = "PLAIN") -> str:
    """`url` logging in as `username`. FerretDB 1.24 takes PLAIN (and hands the user and
    password to PostgreSQL); MongoDB takes its default SCRAM (mechanism "")."""
    split = urllib.parse.urlsplit(url)
    netloc = split.netloc.rpartition("@")[2]
    user = f"{urllib.parse.quote(username, safe='')}:{urllib.parse.quote(password, safe='')}"
    query = [(k, v) for k, v in urllib.parse.parse_qsl(split.query) if k.lower() != "authmechanism"]
    if mechanism:
        query.append(("authMechanism", mechanism))
    return urllib.parse.urlunsplit(
        (split.scheme, f"{user}@{netloc}", split.path or "/", urllib.parse.urlencode(query), "")
    )


def has_credentials(url: str) -> bool:
    return "@" in urllib.parse.urlsplit(url).netloc


def with_local_credentials(url: str, principal: str) -> str:
    """`url` as configured when it names a user; otherwise logging in as `principal` with the
    local stack's password (.local/store/credentials), if the stack has one for it."""
    if has_credentials(url):
        return url
    password = local_store_password(principal)
    return with_credentials(url, principal, password) if password else url


def local_store_url(principal: str = OPERATOR_PRINCIPAL, port: int | None = None) -> str:
    """The local stack's FerretDB (SMARTCITY_FERRETDB_PORT) as `principal`."""
    port = port or int(os.environ.get("SMARTCITY_FERRETDB_PORT", "27017"))
    return with_local_credentials(f"mongodb://127.0.0.1:{port}/", principal)


def redacted(url: str) -> str:
    """`url` without its password, for logs and messages."""
    split = urllib.parse.urlsplit(url)
    userinfo, at, hosts = split.netloc.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    return urllib.parse.urlunsplit(split._replace(netloc=f"{user}:***@{hosts}"))


STORE_ROUND_TRIPS = Counter(
    "smartcity_store_round_trips_total",
    "Commands this process sent to the store (one round trip each), by command: insert, update "
    "(replace_one too), find, getMore, findAndModify, aggregate (count_documents), delete, ...",
    ["operation"],
)


class _RoundTrips(monitoring.CommandListener):
    """Counts every command a client sends (a bulk insert of many documents is one)."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        STORE_ROUND_TRIPS.labels(event.command_name).inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


ROUND_TRIPS = _RoundTrips()


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
        event_listeners=[ROUND_TRIPS],
    )


def is_duplicate_key(exc: BaseException) -> bool:
    return getattr(exc, "code", None) == 11000
