"""PostgreSQL killed while commits flow through FerretDB (issue 27): with the stack's
`synchronous_commit=on` no acknowledged commit is lost; with `off` the tail of the WAL can be
(measured: tests/chaos/pg_crash.py, docs/performance.md). Either way what survives is each
writer's commits 1..n without a gap. A private PostgreSQL and FerretDB, started by
`infra/stack.sh` on free ports, so the shared stack is never killed."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.chaos.pg_crash import PrivateStore, Trial, run_trial, summary

pytestmark = pytest.mark.integration

# A light load (two writers, pauses between commits: a commit often sits alone in a WAL page,
# where `off` leaves it longest) killed right after an acknowledgement, and a busier one whose
# postmaster alone is killed at a random moment.
TRIALS = (("all", "ack", 2, 0.1), ("postmaster", "random", 8, 0.05))  # kill, at, writers, pause


async def crash_and_count(store: PrivateStore) -> list[Trial]:
    trials = []
    for kill, at, writers, pause in TRIALS:
        trial = await run_trial(
            store, kill=kill, at=at, writers=writers, pause=pause, run_seconds=1.0
        )
        print(summary(trial))
        assert trial.acknowledged > 0
        assert trial.gaps == [], trial.gaps  # a lost tail at most, never a hole
        trials.append(trial)
    return trials


@pytest.fixture(scope="module")
def store(stack: None) -> Iterator[PrivateStore]:
    private = PrivateStore()
    try:
        yield private
    finally:
        private.stop()


async def test_with_synchronous_commit_on_no_acknowledged_commit_is_lost(
    store: PrivateStore,
) -> None:
    store.start("on")
    for trial in await crash_and_count(store):
        assert trial.lost == 0, summary(trial)


async def test_with_synchronous_commit_off_what_survives_has_no_gap(
    store: PrivateStore, record_property: Callable[[str, object], None]
) -> None:
    store.start("off")
    trials = await crash_and_count(store)
    record_property("acknowledged_commits_lost_with_off", sum(t.lost for t in trials))
