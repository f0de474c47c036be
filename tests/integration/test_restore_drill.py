"""The restore drill (tools/restore_drill.py) on a store the approvals service is using: back up,
destroy, restore; every collection holds what it held, the service answers again without a
restart, and the workflow goes on from the restored state: a case screened before the backup is
still screened, a submitted one can be screened now, a new proposal opens a case. The store is a
private PostgreSQL and FerretDB (`infra/stack.sh` on free ports): the drill destroys the store
it checks, never the shared one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from tests.chaos.pg_crash import PrivateStore
from tests.e2e.approvals_support import PROVINCES_15, screened, submitted, wait_stage
from tests.support import ROOT, private_namespace, produce, service_process

pytestmark = pytest.mark.integration

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def store(stack: None) -> Iterator[PrivateStore]:
    private = PrivateStore()
    try:
        private.start("on")
        yield private
    finally:
        private.stop()


@pytest.fixture
async def client(store: PrivateStore) -> AsyncIterator[AsyncMongoClient[Doc]]:
    mongo: AsyncMongoClient[Doc] = AsyncMongoClient(store.url, tz_aware=True)
    yield mongo
    await mongo.close()


async def test_the_drill_restores_the_store_and_the_workflow_goes_on(
    store: PrivateStore, client: AsyncMongoClient[Doc]
) -> None:
    async with private_namespace(client) as (ns, topics, _):
        approvals = service_process(
            "approvals", ns, "approvals-drill", {"APPROVALS_MONGO_URL": store.url}
        )
        with approvals.running():
            cases = client[ns.db("approvals")]["cases"]
            subs = [submitted(code, i) for i, code in enumerate(PROVINCES_15[:6])]
            pids = [s.proposal_id for s in subs]
            await produce(topics.proposals, subs)
            await wait_stage(cases, pids, "submitted")
            await produce(topics.intake, [screened(pid) for pid in pids[:3]])
            await wait_stage(cases, pids[:3], "screened")

            drill = await asyncio.to_thread(
                subprocess.run,
                [
                    sys.executable,
                    "-m",
                    "tools.restore_drill",
                    "--yes",
                    "--service-url",
                    approvals.url,
                ],
                env=store.env(),
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            print(drill.stdout)
            assert drill.returncode == 0, drill.stdout + drill.stderr[-3000:]
            assert "differences=0" in drill.stdout
            assert "documents=0 " not in drill.stdout

            # The state read from the restored store, then one more step on it.
            await wait_stage(cases, pids[:3], "screened")
            await wait_stage(cases, pids[3:], "submitted")
            await produce(topics.intake, [screened(pid) for pid in pids[3:]])
            late = submitted(PROVINCES_15[6], 6)
            await produce(topics.proposals, [late])
            await wait_stage(cases, pids, "screened")
            await wait_stage(cases, [late.proposal_id], "submitted")
