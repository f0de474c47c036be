"""The local store's watchdog: restarts FerretDB when it stops answering while PostgreSQL answers.

FerretDB's own liveness endpoint (/debug/readyz) does not look at its PostgreSQL pool and stayed
green through the pool deadlock in infra/ferretdb/README.md, while every command, even `ping`,
waited for a connection for ever. So this pings FerretDB over the wire with a deadline. After
`--failures` failed pings in a row, all of one FerretDB process, it asks `infra/stack.sh heal
ferretdb PID REASON`, which restarts FerretDB only if that process still runs and PostgreSQL
answers (a PostgreSQL outage is not FerretDB's to heal), and appends a line to
.local/run/ferretdb-restarts.log: the fault runs report that count, so a watchdog cannot hide the
bug it papers over.

`infra/stack.sh up` runs it as the server `storewatch`; `--once` is the health probe that
`infra/stack.sh status` uses. Standard library, PyMongo and the store's credentials helper.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient

from smartcity_th.services.common.mongo import WATCHDOG_PRINCIPAL, local_store_url

ROOT = Path(__file__).resolve().parent.parent


def client(port: int, deadline: float) -> MongoClient[dict[str, object]]:
    """As the watchdog's own role (no rights on any data): FerretDB refuses a client that has
    not logged in, and its ping reaches PostgreSQL through that role's pool of connections."""
    ms = int(deadline * 1000)
    return MongoClient(
        local_store_url(WATCHDOG_PRINCIPAL, port),
        directConnection=True,
        serverSelectionTimeoutMS=ms,
        connectTimeoutMS=ms,
        socketTimeoutMS=ms,
        maxPoolSize=1,
        appname="storewatch",
    )


def ping(mongo: MongoClient[dict[str, object]]) -> str | None:
    """None when the server answered, else why not (one line)."""
    try:
        mongo.admin.command("ping")
    except Exception as exc:  # any failure is "not answering"; the reason goes in the log
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return None


def ferretdb_pid(run_dir: Path) -> str | None:
    try:
        pid = (run_dir / "ferretdb.pid").read_text().strip()
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return None
    return pid


def say(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    print(f"{stamp} storewatch: {message}", flush=True)


def watch(port: int, run_dir: Path, interval: float, deadline: float, failures: int) -> None:
    mongo = client(port, deadline)
    failed: list[str] = []
    failed_pid: str | None = None
    say(
        f"watching FerretDB on 127.0.0.1:{port}: a ping every {interval:g} s, deadline "
        f"{deadline:g} s, restart after {failures} failures in a row"
    )
    while True:
        pid = ferretdb_pid(run_dir)
        reason = ping(mongo) if pid else None
        if pid is None or reason is None or pid != failed_pid:
            if failed and reason is None:
                say(f"FerretDB (pid {failed_pid}) answers again after {len(failed)} failed pings")
            failed, failed_pid = [], pid
        if pid is not None and reason is not None:
            failed.append(reason)
            say(f"FerretDB (pid {pid}) did not answer a ping: {reason}")
            if len(failed) >= failures:
                why = f"{len(failed)} pings in a row failed, the last: {reason}"
                subprocess.run(
                    ["bash", str(ROOT / "infra" / "stack.sh"), "heal", "ferretdb", pid, why],
                    check=False,
                )
                failed, failed_pid = [], None
                mongo.close()
                mongo = client(port, deadline)
        time.sleep(interval)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    port = int(os.environ.get("SMARTCITY_FERRETDB_PORT", "27017"))
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--run-dir", type=Path, required=True, help="stack.sh's pid files")
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--deadline", type=float, default=5.0)
    parser.add_argument("--failures", type=int, default=3)
    parser.add_argument("--once", action="store_true", help="ping once: exit 0 if it answers")
    args = parser.parse_args()
    if args.once:
        reason = ping(client(args.port, args.deadline))
        if reason:
            print(reason, file=sys.stderr)
        return 0 if reason is None else 1
    watch(args.port, args.run_dir, args.interval, args.deadline, args.failures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
