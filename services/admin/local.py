"""`smartcity-admin reset-local`: the local stack's services back on empty databases.

What the demo's `--reset` needs, as an operator command: stop the services (infra/services.sh),
drop each service's database, delete the mail Mailpit caught, start the services again. Only for
a stack on loopback; the command asks for --yes.
"""

from __future__ import annotations

import os
import subprocess
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient
from pymongo.uri_parser import parse_uri

from smartcity_th.services.common.settings_doc import settings_classes

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Database:
    service: str
    mongo_url: str
    database: str


@dataclass(frozen=True)
class Targets:
    databases: list[Database]
    mailpit_url: str


def targets() -> Targets:
    """Every service's database as its settings name it; like infra/services.sh, a service
    without its own `<SERVICE>_MONGO_URL` uses the local FerretDB (SMARTCITY_FERRETDB_PORT).
    Each database is dropped as its own service, the one role that owns it."""
    env = os.environ
    local_mongo = f"mongodb://127.0.0.1:{env.get('SMARTCITY_FERRETDB_PORT', '27017')}"
    databases = []
    for name, cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        settings = cls() if f"{prefix}MONGO_URL" in env else cls(mongo_url=local_mongo)
        databases.append(Database(name, settings.store_url(name), settings.mongo_db))
    mailpit = env.get("SMARTCITY_MAILPIT_URL") or (
        f"http://127.0.0.1:{env.get('SMARTCITY_MAILPIT_HTTP_PORT', '8025')}"
    )
    return Targets(databases, mailpit)


def not_on_loopback(targets: Targets) -> list[str]:
    """The servers among `targets` that are not on this machine's loopback (a reset refuses)."""
    remote = [
        f"{host}:{port}"
        for db in targets.databases
        for host, port in parse_uri(db.mongo_url)["nodelist"]
        if host not in LOOPBACK
    ]
    mailpit_host = urllib.parse.urlsplit(targets.mailpit_url).hostname or ""
    if mailpit_host not in LOOPBACK:
        remote.append(targets.mailpit_url)
    return sorted(set(remote))


def _services(command: str, names: list[str]) -> None:
    subprocess.run(["bash", str(ROOT / "infra" / "services.sh"), command, *names], check=True)


def reset(targets: Targets, say: Callable[[str], None]) -> None:
    names = [db.service for db in targets.databases]
    say("Stopping the services…")
    _services("down", names)
    for db in targets.databases:
        client: MongoClient[dict[str, Any]] = MongoClient(db.mongo_url)
        try:
            client.drop_database(db.database)
        finally:
            client.close()
    httpx.delete(f"{targets.mailpit_url}/api/v1/messages", timeout=10).raise_for_status()
    say(
        f"…databases {', '.join(db.database for db in targets.databases)} and the caught mail "
        "deleted; starting the services again."
    )
    _services("up", names)
