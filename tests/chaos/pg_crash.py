"""PostgreSQL killed while services commit through FerretDB: which acknowledged commits survive?

A private PostgreSQL and FerretDB (`infra/stack.sh up postgres ferretdb` with their own
`.local/pgcrash/<id>` and free ports, so the shared stack is never touched) run with
`synchronous_commit` set by `SMARTCITY_POSTGRES_SYNCHRONOUS_COMMIT`, as the stack runs it. Writers
commit through the services' own aggregate store (`services/common/store.py`: one insert of
(aggregate id, next version) per change, then the projection), one aggregate each, and note the
last version each saw acknowledged. Then PostgreSQL is killed:

- `all`: every process of the cluster is stopped (SIGSTOP) and then SIGKILLed, the postmaster and
  each of its children (PostgreSQL puts every child in a process group of its own, so a signal
  to the postmaster's group reaches the postmaster alone). Nothing PostgreSQL held in its shared
  memory reaches the disk: a crash of the server, with the OS surviving.
- `postmaster`: SIGKILL of the postmaster alone; its children notice and exit by themselves.

PostgreSQL is started again (`infra/stack.sh up postgres`, crash recovery replays the WAL), and
for each writer the test reads which of its versions are stored: an acknowledged version missing
is a lost commit. Whatever is lost, what survives must be each writer's versions 1..n with no
gap (asynchronous commit loses the tail of the WAL, never a commit in the middle).

`python -m tests.chaos.pg_crash --modes on off --trials 5` prints one line per trial and writes
.local/chaos/pg-crash.json; tests/integration/test_postgres_crash.py runs one trial of each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.mongo import (
    OPERATOR_PRINCIPAL,
    local_store_password,
    with_credentials,
)
from smartcity_th.services.common.store import (
    AggregateStore,
    Commit,
    CommitPublisher,
    Decision,
    Loaded,
)
from tests.support import LOCAL, ROOT, free_port

Doc = dict[str, Any]
STACK = ROOT / "infra" / "stack.sh"
MODES = ("on", "off")
KILLS = ("all", "postmaster")
AT = ("ack", "random")


@dataclass
class Trial:
    mode: str
    kill: str
    at: str
    writers: int
    pause: float
    acknowledged: int = 0
    """Commits the writers saw acknowledged, in all."""
    lost: int = 0
    """Acknowledged commits missing after the restart."""
    unacknowledged_kept: int = 0
    """Commits in flight at the kill (no answer) that were kept: allowed."""
    gaps: list[str] = field(default_factory=list)
    """Writers whose surviving versions are not 1..n (must be empty)."""
    commits_per_second: float = 0.0
    ran_seconds: float = 0.0
    recovery_seconds: float = 0.0
    """From the kill to the store answering again (restart and crash recovery)."""


class PrivateStore:
    """A PostgreSQL and a FerretDB of their own, started by the stack's script."""

    def __init__(self) -> None:
        self.root = LOCAL / "pgcrash" / uuid.uuid4().hex[:8]
        self.pg_port, self.port, self.debug_port = free_port(), free_port(), free_port()
        self.mode = "on"

    @property
    def credentials(self) -> Path:
        return self.root / "store" / "credentials"  # infra/stack.sh makes it at the first start

    def url_as(self, principal: str) -> str:
        """This store's FerretDB as `principal`, with this stack's password."""
        password = local_store_password(principal, self.credentials)
        return with_credentials(f"mongodb://127.0.0.1:{self.port}/", principal, password)

    @property
    def url(self) -> str:
        """As the operators' role (every service's database)."""
        return self.url_as(OPERATOR_PRINCIPAL)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SMARTCITY_LOCAL_DIR": str(self.root),
            "SMARTCITY_POSTGRES_PORT": str(self.pg_port),
            "SMARTCITY_FERRETDB_PORT": str(self.port),
            "SMARTCITY_FERRETDB_DEBUG_PORT": str(self.debug_port),
            "SMARTCITY_POSTGRES_SYNCHRONOUS_COMMIT": self.mode,
        }

    def stack(self, *args: str) -> None:
        done = subprocess.run(
            ["bash", str(STACK), *args], env=self.env(), capture_output=True, text=True
        )
        if done.returncode:
            logs = [(self.root / "logs" / f"{n}.log") for n in ("postgres", "ferretdb")]
            tails = "".join(f"\n--- {p}:\n{p.read_text()[-2000:]}" for p in logs if p.exists())
            raise RuntimeError(
                f"infra/stack.sh {' '.join(args)} failed:\n{done.stderr[-2000:]}{tails}"
            )

    def start(self, mode: str) -> None:
        """Start (or restart PostgreSQL with another `synchronous_commit`)."""
        if not (self.root / "bin").exists():
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / "bin").symlink_to(LOCAL / "bin")  # the stack's FerretDB build
        if mode != self.mode and (self.root / "run" / "postgres.pid").exists():
            self.stack("down", "postgres")
        self.mode = mode
        self.stack("up", "postgres", "ferretdb")
        assert self.setting() == mode, f"PostgreSQL runs with synchronous_commit={self.setting()}"

    def stop(self) -> None:
        try:
            self.stack("down", "ferretdb", "postgres")
        finally:
            data = self.data_dir()
            shutil.rmtree(self.root, ignore_errors=True)
            if not str(data).startswith(str(self.root)):  # root's data lives outside, linked
                shutil.rmtree(data.parent, ignore_errors=True)

    def data_dir(self) -> Path:
        return (self.root / "postgres").resolve() / "data"

    def psql(self, sql: str) -> str:
        psql = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))[-1]
        password = local_store_password("postgres", self.credentials)
        return subprocess.run(
            [
                str(psql),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.pg_port),
                "-U",
                "postgres",
                "-d",
                "ferretdb",
                "-tAc",
                sql,
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd="/",
            env={**os.environ, "PGPASSWORD": password},
        ).stdout.strip()

    def setting(self) -> str:
        return self.psql("SHOW synchronous_commit")

    def processes(self) -> list[int]:
        """The postmaster, every process it started, and the stack's wrapper around it (as
        root, `runuser`, which stops itself when its child is stopped)."""
        postmaster = int((self.data_dir() / "postmaster.pid").read_text().split()[0])
        wrapper = int((self.root / "run" / "postgres.pid").read_text())
        return [postmaster, *_children(postmaster), *([wrapper] if wrapper != postmaster else [])]

    def crash(self, kill: str) -> list[int]:
        pids = self.processes()
        if kill == "all":
            os.kill(pids[0], signal.SIGSTOP)  # no new children from here on
            pids = self.processes()
            for pid in pids:
                _signal(pid, signal.SIGSTOP)
            for pid in pids:
                _signal(pid, signal.SIGKILL)
        else:
            _signal(pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while any(_alive(pid) for pid in pids):  # a new postmaster refuses while any remains
            if time.monotonic() > deadline:
                raise AssertionError(f"PostgreSQL processes outlived the kill: {pids}")
            time.sleep(0.05)
        return pids


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    """Until reaped: a new postmaster takes a zombie's pid in postmaster.pid for a live one."""
    return Path(f"/proc/{pid}").exists()


def _store(client: AsyncMongoClient[Doc], name: str) -> AggregateStore:
    """The services' aggregate store; its commits carry no events, so nothing is published."""
    publisher = CommitPublisher(KafkaBroker("127.0.0.1:1"), Topics(""), "proposals")
    publisher.publish_on_commit = False
    return AggregateStore(client["pgcrash"], name, publisher)


def _count(loaded: Loaded | None) -> Decision[int]:
    n = 1 if loaded is None else int(loaded.state["n"]) + 1
    return Commit(state={"n": n, "note": "x" * 200}), n


async def run_trial(
    store: PrivateStore,
    *,
    kill: str,
    at: str = "ack",
    writers: int = 8,
    pause: float = 0.05,
    run_seconds: float = 2.0,
) -> Trial:
    """Writers commit (each pausing up to `pause` s between its commits, as a service between
    requests) for about `run_seconds`; then PostgreSQL is killed, `at` a random moment or right
    after a writer's commit was acknowledged; then it is restarted and read."""
    trial = Trial(mode=store.mode, kill=kill, at=at, writers=writers, pause=pause)
    name = f"agg_{uuid.uuid4().hex[:6]}"
    acked = [0] * writers
    armed = asyncio.Event()
    killed: list[float] = []

    def crash() -> None:
        if not killed:
            killed.append(time.monotonic())
            store.crash(kill)  # blocks the loop: no writer moves until every process is gone

    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        store.url, serverSelectionTimeoutMS=3000, socketTimeoutMS=10_000, retryWrites=False
    )
    try:
        aggregates = _store(client, name)
        await aggregates.ensure_indexes()

        async def writer(i: int) -> None:
            while True:
                acked[i] = await aggregates.change(f"w{i:03d}", _count)
                if at == "ack" and armed.is_set():
                    crash()
                await asyncio.sleep(random.uniform(0, pause))

        tasks = [asyncio.create_task(writer(i)) for i in range(writers)]
        started = time.monotonic()
        await asyncio.sleep(run_seconds * random.uniform(0.5, 1.5))
        if any(t.done() for t in tasks):  # a writer failed before the kill: not this test's
            for t in tasks:
                t.cancel()
            raise AssertionError(f"a writer failed before the kill: {_first_error(tasks)}")
        armed.set()
        if at == "random":
            crash()
        # Every writer's commit in flight at the kill fails: its outcome is unknown.
        done, pending = await asyncio.wait(tasks, timeout=60)
        for t in pending:
            t.cancel()
        for t in done:
            t.exception()  # each failed, as expected: retrieved
        assert not pending, "writers still committing 60 s after the kill"
    finally:
        await client.close()
    trial.ran_seconds = killed[0] - started
    trial.commits_per_second = sum(acked) / trial.ran_seconds
    trial.acknowledged = sum(acked)
    store.stack("up", "postgres")
    stored = await _stored_versions(store, name, killed[0])
    trial.recovery_seconds = stored[1]
    for i in range(writers):
        versions = stored[0].get(f"w{i:03d}", [])
        if versions != list(range(1, len(versions) + 1)):
            trial.gaps.append(f"w{i:03d}: {versions}")
        kept = len(versions)
        trial.lost += max(0, acked[i] - kept)
        trial.unacknowledged_kept += max(0, kept - acked[i])
    return trial


async def _stored_versions(
    store: PrivateStore, name: str, killed: float
) -> tuple[dict[str, list[int]], float]:
    """Each aggregate's stored versions, read once the store answers again (FerretDB stays up
    through the crash; its first commands after the restart may still fail)."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        store.url, serverSelectionTimeoutMS=3000, socketTimeoutMS=10_000
    )
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                versions: dict[str, list[int]] = {}
                cursor = client["pgcrash"][f"{name}_commits"].find({}, {"aggregate_id": 1})
                async for doc in cursor:
                    aggregate, version = doc["_id"].rsplit("@", 1)
                    versions.setdefault(aggregate, []).append(int(version))
                return {k: sorted(v) for k, v in versions.items()}, time.monotonic() - killed
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await client.close()


def _first_error(tasks: list[asyncio.Task[None]]) -> str:
    for t in tasks:
        if t.done() and not t.cancelled() and t.exception() is not None:
            return repr(t.exception())
    return "none"


def summary(trial: Trial) -> str:
    return (
        f"pg-crash: synchronous_commit={trial.mode} kill={trial.kill} at={trial.at} "
        f"writers={trial.writers} pause={trial.pause}s acknowledged={trial.acknowledged} "
        f"lost={trial.lost} unacknowledged_kept={trial.unacknowledged_kept} "
        f"gaps={len(trial.gaps)} commits/s={trial.commits_per_second:.0f} "
        f"recovery={trial.recovery_seconds:.1f}s"
    )


async def _main(args: argparse.Namespace) -> int:
    store = PrivateStore()
    trials: list[Trial] = []
    kinds = [(kill, at) for kill in args.kills for at in args.at]
    try:
        for mode in args.modes:
            store.start(mode)
            for _ in range(args.trials):
                for kill, at in kinds:
                    trial = await run_trial(
                        store,
                        kill=kill,
                        at=at,
                        writers=args.writers,
                        pause=args.pause,
                        run_seconds=args.run_seconds,
                    )
                    trials.append(trial)
                    print(summary(trial), flush=True)
    finally:
        store.stop()
    out = LOCAL / "chaos" / "pg-crash.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([asdict(t) for t in trials], indent=2))
    for mode in args.modes:
        for kill, at in kinds:
            some = [t for t in trials if (t.mode, t.kill, t.at) == (mode, kill, at)]
            print(
                f"pg-crash: synchronous_commit={mode} kill={kill} at={at}: {len(some)} trials, "
                f"lost {sum(t.lost for t in some)} of {sum(t.acknowledged for t in some)} "
                f"acknowledged (trials losing any: {sum(1 for t in some if t.lost)}), "
                f"gaps {sum(len(t.gaps) for t in some)}"
            )
    wrong = [t for t in trials if t.gaps or (t.mode == "on" and t.lost)]
    return 1 if wrong else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--kills", nargs="+", choices=KILLS, default=list(KILLS))
    parser.add_argument("--at", nargs="+", choices=AT, default=list(AT))
    parser.add_argument("--trials", type=int, default=5, help="per mode, kill and moment")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument(
        "--pause", type=float, default=0.05, help="max s between a writer's commits"
    )
    parser.add_argument("--run-seconds", type=float, default=2.0)
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
