"""A service started while its store is down waits for it and starts when it comes (issue 27:
in the thousand-proposal fault run the suite's services had exited while FerretDB hung)."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

import pytest
from pymongo import MongoClient

from smartcity_th.services.common.mongo import local_store_password, local_store_url
from tests.support import LOCAL, Namespace, free_port, service_process

pytestmark = pytest.mark.integration

POSTGRES_PORT = os.environ.get("SMARTCITY_POSTGRES_PORT", "5432")


def test_a_service_started_before_its_store_waits_and_starts_when_the_store_comes(
    ns: Namespace,
) -> None:
    store_port = free_port()
    # A database and a consumer group of its own: FerretDB loads its metadata once, at start,
    # so collections this second FerretDB creates stay unknown to the stack's FerretDB, which
    # would fail to create them again ("relation ... already exists") for the session's
    # services on the same database (make test-cluster runs this tier before theirs).
    database = ns.db("proposals_store_later")
    proc = service_process(
        "proposals",
        ns,
        "proposals-store-later",
        {
            "PROPOSALS_MONGO_URL": local_store_url("svc-proposals", store_port),
            "PROPOSALS_MONGO_DB": database,
            "PROPOSALS_CONSUMER_GROUP": f"{ns.topics_prefix}proposals-store-later",
        },
    )
    proc.start()
    store: subprocess.Popen[bytes] | None = None
    try:
        # The service waits, saying for what, and does not exit.
        deadline = time.monotonic() + 180
        while proc.log_path.read_text(encoding="utf-8").count('"what": "mongodb"') < 2:
            assert proc.proc is not None
            assert proc.proc.poll() is None, (
                f"proposals exited while its store was down:\n{proc.log_path.read_text()[-2000:]}"
            )
            assert time.monotonic() < deadline, "proposals never said it waits for MongoDB"
            time.sleep(0.5)
        # Then a store appears on that port: another FerretDB over the stack's PostgreSQL.
        state = LOCAL / "ferretdb-later" / ns.run_id
        state.mkdir(parents=True, exist_ok=True)
        store = subprocess.Popen(
            [
                str(LOCAL / "bin" / "ferretdb"),
                "--handler=postgresql",
                f"--state-dir={state}",
                f"--listen-addr=127.0.0.1:{store_port}",
                "--debug-addr=-",
                "--telemetry=disable",
                "--log-level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={
                **os.environ,
                "FERRETDB_POSTGRESQL_URL": f"postgres://ferretdb:{local_store_password('ferretdb')}"
                f"@127.0.0.1:{POSTGRES_PORT}/ferretdb",
            },
        )
        proc.wait_healthy(120)
    finally:
        proc.stop()
        if store is not None:
            try:  # dropped through the FerretDB that made it (the stack's does not know it)
                url = local_store_url("svc-proposals", store_port)
                client: MongoClient[dict[str, Any]] = MongoClient(
                    url, serverSelectionTimeoutMS=10_000
                )
                with client:
                    client.drop_database(database)
            finally:
                store.terminate()
                store.wait(30)
