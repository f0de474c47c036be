"""The aggregate store's contract (`services/common/store.py`), one set of test bodies run
against both implementations, so the in-memory twin cannot drift from the real store:
`tests/unit/test_store_contract.py` (in memory) and `tests/integration/test_store_contract.py`
(FerretDB and Kafka). Each tier gives a `stores` fixture (`Stores` below)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Protocol

import bson.errors
import pytest

from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.proposals import ProposalWithdrawn
from smartcity_th.contracts.topics import HEADER_EMITTED_BY, INTAKE, PROPOSALS
from smartcity_th.services.common.documents import Doc
from smartcity_th.services.common.store import Aggregates, Commit, Decision, Loaded

__all__ = [
    "ContractStore",
    "Stores",
    "test_a_commit_carries_its_state_its_sealed_events_and_what_it_consumed",
    "test_a_decision_on_a_new_aggregate_sees_none_and_one_that_commits_nothing_stores_nothing",
    "test_a_lost_race_is_decided_again_and_refused_if_it_no_longer_fits",
    "test_a_state_bson_cannot_store_is_refused_and_nothing_is_committed",
    "test_a_store_decides_on_its_own_last_commit_and_still_sees_other_processes_commits",
    "test_commits_not_published_on_commit_wait_in_the_outbox_and_go_out_in_order",
    "test_concurrent_changes_from_two_processes_lose_nothing_and_publish_in_order",
    "test_create_commits_the_first_version_once_and_reads_nothing_first",
    "test_ids_where_finds_aggregates_by_their_latest_state",
    "test_what_is_stored_is_what_a_read_gives_back",
]


class Refused(Exception):
    pass


class ContractStore(Aggregates, Protocol):
    """The port, and the relay's side of the outbox."""

    async def unpublished(self) -> list[Doc]: ...

    async def publish_pending(
        self, older_than: dt.datetime | None = None
    ) -> tuple[int, list[dt.datetime]]: ...


class Stores(Protocol):
    def new(self, *, publishing: bool = True) -> ContractStore:
        """A store of a new kind of aggregate; with `publishing=False` its writer leaves the
        events to the relay (`publish_pending`)."""

    def twin(self, store: ContractStore) -> ContractStore:
        """The same store as another process has it (its own connection and memory)."""

    async def commit(self, store: ContractStore, aggregate_id: str, version: int) -> Doc | None:
        """One commit document as stored."""

    async def sent(self, store: ContractStore, aggregate_id: str, count: int) -> list[str]:
        """The ids of the events of `store` sent about `aggregate_id` to the proposals topic,
        in the order first sent (waiting for at least `count`)."""


def withdrawn(aggregate_id: str, note: str) -> AnyEnvelope:
    return new_envelope(
        ProposalWithdrawn(applicant="lg-phuket-city", reason=note),
        producer="svc-proposals",
        proposal_id=aggregate_id,
    )


def add(
    aggregate_id: str, step: int, limit: int | None = None, seen: list[int] | None = None
) -> Callable[[Loaded | None], Decision[int]]:
    """A decision: add `step` to the counter (refused once it would pass `limit`), with one
    event saying so."""

    def decide(loaded: Loaded | None) -> Decision[int]:
        total = 0 if loaded is None else int(loaded.state["total"])
        if seen is not None:
            seen.append(total)
        if limit is not None and total + step > limit:
            raise Refused(f"{total} + {step} would pass {limit}")
        event = withdrawn(aggregate_id, f"+{step} -> {total + step}")
        return Commit(state={"total": total + step}, events=[event]), total + step

    return decide


async def test_create_commits_the_first_version_once_and_reads_nothing_first(
    stores: Stores,
) -> None:
    store = stores.new()
    assert await store.create("A-1", Commit(state={"total": 0}))
    assert not await store.create("A-1", Commit(state={"total": 100}))
    loaded = await store.load("A-1")
    assert loaded is not None
    assert (loaded.aggregate_id, loaded.version, loaded.state) == ("A-1", 1, {"total": 0})
    assert await store.get("A-1") == {"total": 0}
    assert await store.exists("A-1")
    assert not await store.exists("A-2")
    assert await store.load("A-2") is None
    assert await store.get("A-2") is None
    assert not await stores.twin(store).create("A-1", Commit(state={"total": 5}))


async def test_a_decision_on_a_new_aggregate_sees_none_and_one_that_commits_nothing_stores_nothing(
    stores: Stores,
) -> None:
    store = stores.new()
    seen: list[Loaded | None] = []

    def look(loaded: Loaded | None) -> Decision[str]:
        seen.append(loaded)
        return None, "nothing to do"

    assert await store.change("A-1", look) == "nothing to do"
    assert seen == [None]
    assert not await store.exists("A-1")
    assert await store.change("A-1", add("A-1", 3)) == 3
    assert await store.change("A-1", look) == "nothing to do"
    # On the remembered commit, then (nothing to commit) again on a fresh load.
    assert [(s.version, s.state) if s else None for s in seen] == [
        None,
        (1, {"total": 3}),
        (1, {"total": 3}),
    ]
    loaded = await store.load("A-1")
    assert loaded is not None
    assert loaded.version == 1


async def test_concurrent_changes_from_two_processes_lose_nothing_and_publish_in_order(
    stores: Stores,
) -> None:
    mine = stores.new()
    theirs = stores.twin(mine)
    results = await asyncio.gather(
        *((mine if i % 2 else theirs).change("A-1", add("A-1", 1)) for i in range(30))
    )
    assert sorted(results) == list(range(1, 31))  # each change saw the one before it
    for store in (mine, theirs):
        loaded = await store.load("A-1")
        assert loaded is not None
        assert (loaded.version, loaded.state) == (30, {"total": 30})
    commits = [await stores.commit(mine, "A-1", v) for v in range(1, 31)]
    in_order = [c["events"][0]["event_id"] for c in commits if c]
    assert await stores.sent(mine, "A-1", 30) == in_order


async def test_a_lost_race_is_decided_again_and_refused_if_it_no_longer_fits(
    stores: Stores,
) -> None:
    store = stores.new()
    outcomes = await asyncio.gather(
        *(store.change("A-1", add("A-1", 4, limit=10)) for _ in range(5)),
        return_exceptions=True,
    )
    applied = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert sorted(applied) == [4, 8]
    assert len(refused) == 3
    assert all("would pass 10" in str(r) for r in refused)
    loaded = await store.load("A-1")
    assert loaded is not None
    assert (loaded.version, loaded.state) == (2, {"total": 8})
    assert await stores.commit(store, "A-1", 3) is None


async def test_a_store_decides_on_its_own_last_commit_and_still_sees_other_processes_commits(
    stores: Stores,
) -> None:
    """The next change after a commit decides on the remembered commit; a commit another
    process made in between fails its insert, and it is decided again on what is stored; so is
    a refusal decided on the remembered state, and a decision to commit nothing."""
    mine = stores.new()
    theirs = stores.twin(mine)
    assert await mine.create("A-1", Commit(state={"total": 0}))
    seen: list[int] = []
    assert await mine.change("A-1", add("A-1", 1, seen=seen)) == 1
    assert seen == [0]
    assert await theirs.change("A-1", add("A-1", 10)) == 11
    seen.clear()
    assert await mine.change("A-1", add("A-1", 1, seen=seen)) == 12  # not 2
    assert seen == [1, 11]  # the remembered 1 lost the insert; decided again on 11
    assert await theirs.change("A-1", add("A-1", -10)) == 2
    seen.clear()
    # On the remembered 12 this would be refused; on the stored 2 it fits.
    assert await mine.change("A-1", add("A-1", 5, limit=10, seen=seen)) == 7
    assert seen == [12, 2]
    assert await theirs.change("A-1", add("A-1", 1)) == 8
    looked: list[int] = []

    def look(loaded: Loaded | None) -> Decision[int]:
        assert loaded is not None
        looked.append(int(loaded.state["total"]))
        return None, int(loaded.state["total"])

    assert await mine.change("A-1", look) == 8  # nothing to commit: decided on a fresh load
    assert looked == [7, 8]
    loaded = await mine.load("A-1")
    assert loaded is not None
    assert (loaded.version, loaded.state) == (7, {"total": 8})


async def test_what_is_stored_is_what_a_read_gives_back(stores: Stores) -> None:
    """State goes through BSON as the services' client reads it: UTC-aware datetimes to the
    millisecond, lists for tuples; the caller's objects are not kept (changing them later
    changes nothing), and the remembered commit is the same as a read."""
    store = stores.new()
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    state: Doc = {"at": at, "pair": (1, 2), "nested": {"items": ["a"]}}
    assert await store.create("A-1", Commit(state=state))
    state["nested"]["items"].append("changed later")
    expected = {
        "at": dt.datetime(2026, 1, 1, 20, 4, 5, 678_000, tzinfo=dt.UTC),
        "pair": [1, 2],
        "nested": {"items": ["a"]},
    }
    for reader in (store, stores.twin(store)):
        loaded = await reader.load("A-1")
        assert loaded is not None
        assert loaded.state == expected
        assert loaded.state["at"].utcoffset() == dt.timedelta(0)
    seen: list[Doc] = []

    def again(loaded: Loaded | None) -> Decision[None]:
        assert loaded is not None
        seen.append(loaded.state)
        return Commit(state={**loaded.state, "n": len(seen)}), None

    await store.change("A-1", again)  # on the remembered commit: no read
    await store.change("A-1", again)
    assert seen[0] == expected
    assert seen[1] == {**expected, "n": 1}


async def test_a_state_bson_cannot_store_is_refused_and_nothing_is_committed(
    stores: Stores,
) -> None:
    store = stores.new()
    with pytest.raises(bson.errors.InvalidDocument):
        await store.create("A-1", Commit(state={"day": dt.date(2026, 1, 1)}))
    with pytest.raises(bson.errors.InvalidDocument):
        await store.change("A-1", lambda _: (Commit(state={"ids": {"a", "b"}}), None))
    assert not await store.exists("A-1")
    assert await store.load("A-1") is None


async def test_a_commit_carries_its_state_its_sealed_events_and_what_it_consumed(
    stores: Stores,
) -> None:
    store = stores.new()
    first, second = withdrawn("A-1", "one"), withdrawn("A-1", "two")
    commit = Commit(
        state={"total": 1},
        events=[first, second],
        processed=["claim-1", "claim-2"],
        topics={str(second.event_id): INTAKE},
        headers={"x-test": "yes"},
    )
    assert await store.create("A-1", commit)
    doc = await stores.commit(store, "A-1", 1)
    assert doc is not None
    assert (doc["aggregate_id"], doc["version"], doc["state"]) == ("A-1", 1, {"total": 1})
    assert doc["processed"] == ["claim-1", "claim-2"]
    assert isinstance(doc["at"], dt.datetime)
    records = doc["events"]
    assert [r["event_id"] for r in records] == [str(first.event_id), str(second.event_id)]
    assert [r["topic"] for r in records] == [PROPOSALS, INTAKE]
    assert {r["key"] for r in records} == {"A-1"}
    for record, envelope in zip(records, (first, second), strict=True):
        assert record["value"] == envelope.model_dump_json()
        assert record["headers"][HEADER_EMITTED_BY] == "svc-proposals"
        assert record["headers"]["x-test"] == "yes"
    assert await stores.sent(store, "A-1", 1) == [str(first.event_id)]  # the other: to intake
    assert await store.unpublished() == []
    published = await stores.commit(store, "A-1", 1)
    assert published is not None
    assert published["published"] is True
    assert await store.create("A-2", Commit(state={"total": 0}))
    quiet = await stores.commit(store, "A-2", 1)
    assert quiet is not None
    assert (quiet["events"], quiet["published"]) == ([], True)


async def test_commits_not_published_on_commit_wait_in_the_outbox_and_go_out_in_order(
    stores: Stores,
) -> None:
    store = stores.new(publishing=False)
    assert await store.change("A-1", add("A-1", 1)) == 1
    assert await store.change("B-1", add("B-1", 5)) == 5
    assert await store.change("A-1", add("A-1", 1)) == 2
    assert await store.create("C-1", Commit(state={"total": 0}))  # no events: nothing to send
    pending = await store.unpublished()
    assert [(d["aggregate_id"], d["version"]) for d in pending] == [
        ("A-1", 1),
        ("A-1", 2),
        ("B-1", 1),
    ]
    assert all(isinstance(d["at"], dt.datetime) for d in pending)
    cutoff = min(d["at"] for d in pending) - dt.timedelta(seconds=1)
    assert await store.publish_pending(cutoff) == (0, [d["at"] for d in pending])
    assert await store.publish_pending() == (3, [])
    assert await store.unpublished() == []
    commits = [await stores.commit(store, "A-1", v) for v in (1, 2)]
    assert await stores.sent(store, "A-1", 2) == [c["events"][0]["event_id"] for c in commits if c]
    assert await store.publish_pending() == (0, [])


async def test_ids_where_finds_aggregates_by_their_latest_state(stores: Stores) -> None:
    store = stores.new()

    def at_stage(stage: str) -> Callable[[Loaded | None], Decision[None]]:
        return lambda _: (Commit(state={"stage": stage, "n": 1}), None)

    for aggregate_id in ("C-3", "C-1", "C-2"):
        await store.change(aggregate_id, at_stage("screened"))
    await store.change("C-2", at_stage("certified"))
    await stores.twin(store).change("C-3", at_stage("certified"))
    assert await store.ids_where({"stage": "certified"}) == ["C-2", "C-3"]
    assert await store.ids_where({"stage": "certified", "n": 1}) == ["C-2", "C-3"]
    assert await store.ids_where({"stage": "screened"}) == ["C-1"]
    assert await store.ids_where({"stage": "withdrawn"}) == []
