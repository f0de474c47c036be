"""Restore drill of the store: back it up, destroy it, restore it, check it is the same.

The store is one PostgreSQL database, `ferretdb`: FerretDB keeps every MongoDB database of every
service as a schema in it (collections as tables, indexes, the GIN twins' event trigger). So a
backup of the store is `pg_dump` of that database (docs/deployment.md: this logical dump, and a
physical base backup with WAL archiving for point-in-time recovery). The drill, on a running
stack, as `infra/stack.sh` runs it (the same SMARTCITY_* ports and SMARTCITY_LOCAL_DIR):

1. counts the documents of every collection of every database, through FerretDB;
2. stops FerretDB (`infra/stack.sh down ferretdb`): the services wait for their store, retrying,
   so nothing is written after the backup is taken;
3. backs the database up (`pg_dump --format=custom`) into `<local>/backups/`;
4. destroys it (`DROP DATABASE ferretdb WITH (FORCE)`);
5. restores it (`pg_restore --create --exit-on-error`);
6. starts FerretDB and counts again: every collection must hold what it held;
7. with `--service-url`, waits until each service's /healthz answers 200 again;
8. with `--console-url`, checks the console's audit hash chains (`smartcity audit verify`, with
   the operator key in CONSOLE_API_KEY) before and after: intact, same entries, same head.

It prints one line with each step's time and writes `<local>/backups/drill-latest.json`;
exit status 0 when the counts match and the services answer, 1 otherwise. It destroys the store
it checks, so it asks for `--yes`; it reaches only the stack's PostgreSQL, on loopback. A
workflow step after the restore is the caller's (tests/integration/test_restore_drill.py takes
one).

`python -m tools.restore_drill --yes [--service-url http://127.0.0.1:8002 ...]
[--console-url http://127.0.0.1:8004]`
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from smartcity_th.services.common.mongo import (
    OPERATOR_PRINCIPAL,
    local_store_password,
    with_credentials,
)

ROOT = Path(__file__).resolve().parents[1]
STORE_DB = "ferretdb"  # the PostgreSQL database FerretDB runs on (infra/stack.sh)
SKIP_DATABASES = frozenset({"admin", "config", "local"})

Counts = dict[str, int]  # "database.collection" -> documents


@dataclass
class Drill:
    backup_file: str = ""
    backup_bytes: int = 0
    databases: int = 0
    collections: int = 0
    documents: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    unhealthy: list[str] = field(default_factory=list)
    audit: str = ""
    """What `smartcity audit verify` said, when asked (empty: not asked)."""
    audit_ok: bool = True

    @property
    def ok(self) -> bool:
        return not self.differences and not self.unhealthy and self.audit_ok

    def line(self) -> str:
        steps = " ".join(f"{k}={v:.1f}s" for k, v in self.seconds.items())
        return (
            f"restore-drill: databases={self.databases} collections={self.collections} "
            f"documents={self.documents} backup_size={self.backup_bytes / 1e6:.2f}MB {steps} "
            f"differences={len(self.differences)} unhealthy={len(self.unhealthy)} "
            f"audit={'not checked' if not self.audit else 'intact' if self.audit_ok else 'BROKEN'} "
            f"{'OK' if self.ok else 'FAILED'}"
        )


@dataclass(frozen=True)
class Stack:
    """The local stack's store as infra/stack.sh runs it (its environment variables)."""

    local: Path
    postgres_port: int
    ferretdb_port: int

    @classmethod
    def from_env(cls) -> Stack:
        env = os.environ
        return cls(
            Path(env.get("SMARTCITY_LOCAL_DIR", ROOT / ".local")),
            int(env.get("SMARTCITY_POSTGRES_PORT", "5432")),
            int(env.get("SMARTCITY_FERRETDB_PORT", "27017")),
        )

    def script(self, *args: str) -> None:
        subprocess.run(["bash", str(ROOT / "infra" / "stack.sh"), *args], check=True)

    @property
    def credentials(self) -> Path:
        return self.local / "store" / "credentials"  # infra/stack.sh's, one per stack

    def pg(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        """A PostgreSQL client program as the superuser, over loopback TCP (its password from
        the stack's credentials: only the superuser may drop and re-create the database)."""
        binary = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"))[-1]
        conn = ["-h", "127.0.0.1", "-p", str(self.postgres_port), "-U", "postgres"]
        password = local_store_password("postgres", self.credentials)
        done = subprocess.run(
            [str(binary), *conn, *args],
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": password},
        )
        if done.returncode:
            raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done

    def counts(self) -> Counts:
        url = with_credentials(
            f"mongodb://127.0.0.1:{self.ferretdb_port}/",
            OPERATOR_PRINCIPAL,
            local_store_password(OPERATOR_PRINCIPAL, self.credentials),
        )  # the operators' role: a member of every service's, so it counts every database
        client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=10_000)
        try:
            found: Counts = {}
            for name in client.list_database_names():
                if name in SKIP_DATABASES:
                    continue
                db = client[name]
                for coll in db.list_collection_names():
                    found[f"{name}.{coll}"] = db[coll].count_documents({})
            return found
        finally:
            client.close()


def differences(before: Counts, after: Counts) -> list[str]:
    return [
        f"{name}: {before.get(name)} before, {after.get(name)} after"
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    ]


def wait_healthy(urls: list[str], deadline: float) -> list[str]:
    """The services (of `urls`) whose /healthz has not answered 200 by `deadline`."""
    waiting = list(urls)
    while waiting and time.monotonic() < deadline:
        for url in list(waiting):
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    waiting.remove(url)
            except httpx.HTTPError:
                pass
        if waiting:
            time.sleep(0.5)
    return waiting


def audit_verify(console_url: str) -> tuple[bool, str]:
    """`smartcity audit verify` against the console: both hash chains, every entry."""
    smartcity = "from smartcity_th.services.console.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", smartcity, "audit", "verify", "--url", console_url],
        capture_output=True,
        text=True,
    )
    said = (done.stdout.strip() or done.stderr.strip() or "no answer").splitlines()[-1]
    return done.returncode == 0 and "intact" in said, said


def run(
    stack: Stack,
    service_urls: list[str],
    console_url: str | None = None,
    health_timeout: float = 120.0,
) -> Drill:
    drill = Drill()
    started = time.monotonic()

    def step(name: str, since: float) -> float:
        now = time.monotonic()
        drill.seconds[name] = now - since
        return now

    before = stack.counts()
    audit_before = audit_verify(console_url) if console_url else (True, "")
    drill.databases = len({name.split(".", 1)[0] for name in before})
    drill.collections, drill.documents = len(before), sum(before.values())
    t = step("count", started)
    stack.script("down", "ferretdb")
    t = step("stop_store", t)
    backups = stack.local / "backups"
    backups.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    dump = backups / f"{STORE_DB}-{stamp}.dump"
    stack.pg("pg_dump", "--format=custom", f"--file={dump}", STORE_DB)
    drill.backup_file, drill.backup_bytes = str(dump), dump.stat().st_size
    t = step("backup", t)
    stack.pg("psql", "-d", "postgres", "-qc", f"DROP DATABASE {STORE_DB} WITH (FORCE)")
    t = step("destroy", t)
    stack.pg("pg_restore", "--create", "--exit-on-error", "-d", "postgres", str(dump))
    t = step("restore", t)
    stack.script("up", "ferretdb")
    drill.differences = differences(before, stack.counts())
    t = step("start_store_and_count", t)
    if service_urls:
        drill.unhealthy = wait_healthy(service_urls, time.monotonic() + health_timeout)
        t = step("services_healthy", t)
    if console_url:
        drill.audit_ok, drill.audit = audit_verify(console_url)
        if drill.audit != audit_before[1]:  # the same entries and the same head, or not
            drill.audit_ok = False
            drill.audit = f"before: {audit_before[1]}; after: {drill.audit}"
        t = step("audit_verify", t)
    drill.seconds["total"] = t - started
    (backups / "drill-latest.json").write_text(
        json.dumps({**asdict(drill), "ok": drill.ok}, indent=2)
    )
    return drill


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--yes", action="store_true", help="destroy and restore the store")
    parser.add_argument(
        "--service-url",
        action="append",
        default=[],
        help="a service whose /healthz must answer 200 after the restore (repeatable)",
    )
    parser.add_argument(
        "--console-url", help="also check the console's audit chains (key in CONSOLE_API_KEY)"
    )
    args = parser.parse_args()
    if not args.yes:
        print("restore-drill destroys the store it restores: add --yes", file=sys.stderr)
        return 2
    drill = run(Stack.from_env(), args.service_url, args.console_url)
    print(drill.line())
    for problem in drill.differences + [f"{url}: /healthz not 200" for url in drill.unhealthy]:
        print(f"  {problem}")
    if drill.audit:
        print(f"  audit: {drill.audit}")
    return 0 if drill.ok else 1


if __name__ == "__main__":
    sys.exit(main())
