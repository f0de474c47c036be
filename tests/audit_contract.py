"""The console audit log's contract (`services/console/ports.py`'s `AuditLog`), one set of test
bodies run against both implementations, so the in-memory twin cannot drift from the real log:
`tests/unit/test_audit_contract.py` (`tests/unit/fakes/audit.py`) and
`tests/integration/test_audit_contract.py` (`MongoAuditLog` on FerretDB). Each tier gives a
`logs` fixture (`Logs` below). What only the MongoDB log can meet (a crash between its two
writes, entries stored before the lists were numbered) is in
`tests/integration/test_console_audit.py`."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Protocol

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.record import Record
from smartcity_th.services.console.chain import GENESIS, Verifier
from smartcity_th.services.console.handlers import Recorder
from smartcity_th.services.console.paging import MAX_BLOCKS, Cursor
from smartcity_th.services.console.ports import AuditLog
from smartcity_th.services.console.views import dead_letters_listing, deliveries_listing

__all__ = [
    "Logs",
    "test_a_dead_letter_is_found_by_its_id_with_its_replays_oldest_first",
    "test_a_page_of_a_sparse_filter_ends_early_and_says_where_to_go_on",
    "test_context_is_the_last_entry_about_a_proposal_and_what_carries_forward",
    "test_each_append_extends_both_chains_once_per_source",
    "test_pages_walk_a_list_newest_first_and_back_without_gaps_or_repeats",
    "test_queries_select_by_field_and_sequence_and_types_come_oldest_first",
    "test_redelivered_records_are_stored_once_and_concurrent_appends_chain",
    "test_the_next_append_wakes_whoever_waits_for_it",
    "test_two_processes_appending_at_once_never_fork_either_chain",
]


class Logs(Protocol):
    async def new(self, *, max_blocks: int = MAX_BLOCKS) -> AuditLog:
        """An empty log of its own, as a console starts on a new database (a page of a list
        reads at most `max_blocks` blocks)."""

    def twin(self, log: AuditLog) -> AuditLog:
        """The same log as another console process has it (its own connection and memory)."""


def content(source: str, kind: str = "raw", **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "source": source, "summary": f"{kind} {source}", **fields}


def letter(source: str, dead_letter_id: str, error: str) -> dict[str, Any]:
    return content(source, "deadletter", dead_letter_id=dead_letter_id, error=error)


async def everything(log: AuditLog) -> list[dict[str, Any]]:
    return await log.page({}, limit=10_000)


async def test_each_append_extends_both_chains_once_per_source(logs: Logs) -> None:
    log = await logs.new()
    empty = await log.head()
    assert (empty["seq"], empty["hash"]) == (0, GENESIS)
    first = await log.append("p-1", content("t:0:1", province_code="83"))
    other = await log.append(None, content("t:1:1"))
    third = await log.append("p-1", content("t:0:2"))
    assert first is not None
    assert other is not None
    assert third is not None
    assert [e["seq"] for e in (first, other, third)] == [1, 2, 3]
    assert (first["prev_hash"], other["prev_hash"], third["prev_hash"]) == (
        GENESIS,
        first["hash"],
        other["hash"],
    )
    assert (third["proposal_seq"], third["proposal_prev_hash"]) == (2, first["hash"])
    assert (other["proposal_id"], other["proposal_seq"]) == (None, 1)
    assert await log.append("p-1", content("t:0:1")) is None  # a redelivered record
    stored = await everything(log)
    assert stored == [{**e, "block": 0} for e in (first, other, third)]
    assert Verifier().feed(stored) is None
    head = await log.head()
    assert (head["seq"], head["hash"]) == (3, third["hash"])


async def test_context_is_the_last_entry_about_a_proposal_and_what_carries_forward(
    logs: Logs,
) -> None:
    log = await logs.new()
    assert await log.context(None) is None
    assert await log.context("p-1") is None
    await log.append("p-1", content("t:0:1", province_code="83", agency="lg-phuket-city"))
    last = await log.append("p-1", content("t:0:2", province_code="83", agency="lg-phuket-city"))
    await log.append("p-2", content("t:0:3", province_code="10"))
    assert last is not None
    for reader in (log, logs.twin(log)):  # this process, and one started later
        found = await reader.context("p-1")
        assert found is not None
        assert {
            k: found[k] for k in ("seq", "proposal_seq", "hash", "province_code", "agency")
        } == {
            "seq": 2,
            "proposal_seq": 2,
            "hash": last["hash"],
            "province_code": "83",
            "agency": "lg-phuket-city",
        }


async def test_redelivered_records_are_stored_once_and_concurrent_appends_chain(
    logs: Logs,
) -> None:
    log = await logs.new()
    recorder = Recorder(log, Topics("contract."))
    records = [
        Record("contract.smartcity.intake", i % 3, i, f"p-{i % 4:03d}".encode(), b"no event", ())
        for i in range(30)
    ]
    await asyncio.gather(*(recorder.record(r) for r in records))
    await asyncio.gather(*(recorder.record(r) for r in records[:10]))  # redelivery
    entries = await everything(log)
    assert len(entries) == 30
    assert {e["kind"] for e in entries} == {"raw"}
    verifier = Verifier()
    assert verifier.feed(entries) is None
    assert len(verifier.proposal_heads) == 4
    head = await log.head()
    assert (head["seq"], head["hash"]) == (30, entries[-1]["hash"])


async def test_two_processes_appending_at_once_never_fork_either_chain(logs: Logs) -> None:
    log = await logs.new()
    other = logs.twin(log)
    await asyncio.gather(
        *(
            writer.append(f"p-{i % 3}", content(f"t:{n}:{i}"))
            for i in range(5)
            for n, writer in enumerate((log, other))
        )
    )
    assert await other.append("p-0", content("t:0:0")) is None  # the other one stored it
    entries = await everything(log)
    assert sorted(e["source"] for e in entries) == sorted(
        f"t:{n}:{i}" for i in range(5) for n in range(2)
    )
    assert Verifier().feed(entries) is None
    assert (await other.head())["seq"] == (await log.head())["seq"] == 10


async def test_queries_select_by_field_and_sequence_and_types_come_oldest_first(
    logs: Logs,
) -> None:
    log = await logs.new()
    types = ["ProposalSubmitted", "ProposalScreened", "NotificationSent"]
    for i in range(1, 8):
        await log.append(
            f"p-{i % 2}",
            content(
                f"t:0:{i}",
                "event",
                event_type=types[i % 3],
                recorded_at=f"2026-12-07T00:00:0{i}+00:00",
            ),
        )
    await log.append("p-1", content("t:0:8", "claim", event_type="ProposalSubmitted"))

    async def seqs(query: dict[str, Any], **bounds: Any) -> list[int]:
        return [e["seq"] for e in await log.page(query, **bounds)]

    assert await seqs({"proposal_id": "p-1"}) == [1, 3, 5, 7, 8]
    assert await seqs({"proposal_id": "p-1"}, after_seq=1, before_seq=7) == [3, 5]
    assert await seqs({"proposal_id": "p-1"}, newest_first=True, limit=2) == [8, 7]
    assert await seqs({}, after_seq=2, limit=3) == [3, 4, 5]
    assert await seqs({}, before_seq=3, newest_first=True) == [2, 1]
    assert await seqs({"kind": "event", "event_type": {"$in": types[1:]}}) == [1, 2, 4, 5, 7]
    assert await seqs({"recorded_at": {"$gte": "2026-12-07T00:00:05+00:00"}}) == [5, 6, 7]
    assert await seqs({"proposal_id": "p-none"}) == []


async def test_pages_walk_a_list_newest_first_and_back_without_gaps_or_repeats(
    logs: Logs,
) -> None:
    log = await logs.new()
    letters: list[int] = []
    for i in range(23):
        kind = "deadletter" if i % 3 == 0 else "event"
        fields = (
            {
                "error": f"Payload {'NOT JSON (a+b)' if i % 2 else 'too big'} #{i}",
                "dead_letter_id": f"dl-{i}",
            }
            if kind == "deadletter"
            else {"event_type": "NotificationSent"}
        )
        entry = await log.append(f"p-{i % 4}", content(f"t:0:{i}", kind, **fields))
        assert entry is not None
        if kind == "deadletter":
            letters.append(entry["seq"])

    query = dead_letters_listing()
    seen: list[int] = []
    page = await log.window(query, Cursor(), 3)
    assert page.newer is None
    while True:
        seen += [e["seq"] for e in page.entries]
        if page.older is None:
            break
        page = await log.window(query, Cursor(before=page.older), 3)
    assert seen == sorted(letters, reverse=True)

    back: list[int] = []
    page = await log.window(query, Cursor(after=0), 3)  # the oldest page, read forwards
    assert page.older is None
    while True:
        back = [e["seq"] for e in page.entries] + back
        if page.newer is None:
            break
        page = await log.window(query, Cursor(after=page.newer), 3)
    assert sorted(back, reverse=True) == seen

    matching = await log.window(dead_letters_listing("not json (A+B)"), Cursor(), 100)
    assert [e["seq"] for e in matching.entries] == [
        s for s in sorted(letters, reverse=True) if (s - 1) % 2 == 1
    ]
    assert (matching.older, matching.newer) == (None, None)

    emails = await log.window(deliveries_listing(), Cursor(), 5)
    assert len(emails.entries) == 5
    assert emails.older is not None
    assert {e["event_type"] for e in emails.entries} == {"NotificationSent"}
    assert [e["list_n"] for e in emails.entries] == [15, 14, 13, 12, 11]
    one = await log.window(deliveries_listing("p-1"), Cursor(), 100)
    assert one.entries
    assert {e["proposal_id"] for e in one.entries} == {"p-1"}
    from_outside = await log.window(query, Cursor(before=letters[-1] - 1), 100)  # not a letter
    assert [e["seq"] for e in from_outside.entries] == sorted(letters, reverse=True)[1:]


async def test_a_page_of_a_sparse_filter_ends_early_and_says_where_to_go_on(logs: Logs) -> None:
    log = await logs.new(max_blocks=2)
    # 201 dead letters, numbered 1..201 in their list: list blocks 0 (1-99), 1 (100-199), 2.
    for i in range(1, 202):
        await log.append(None, letter(f"d:0:{i}", f"dl-{i}", "rare" if i == 5 else "common"))
    rare = dead_letters_listing("rare")
    first = await log.window(rare, Cursor(), 10)  # reads blocks 2 and 1, finds nothing
    assert (first.entries, first.older, first.newer) == ([], 100, None)
    assert first.older is not None
    on = await log.window(rare, Cursor(before=first.older), 10)  # blocks 1 and 0
    assert ([e["seq"] for e in on.entries], on.older, on.newer) == ([5], None, 5)
    forwards = await log.window(rare, Cursor(after=0), 10)  # blocks 0 and 1
    assert ([e["seq"] for e in forwards.entries], forwards.older, forwards.newer) == (
        [5],
        None,
        199,
    )
    full = await log.window(dead_letters_listing("common"), Cursor(), 3)
    assert ([e["seq"] for e in full.entries], full.older) == ([201, 200, 199], 199)


async def test_a_dead_letter_is_found_by_its_id_with_its_replays_oldest_first(
    logs: Logs,
) -> None:
    log = await logs.new()
    await log.append("p-1", content("t:0:1"))
    await log.append("p-1", letter("d:0:1", "dl-1", "bad"))
    found = await log.dead_letter("dl-1")
    assert found is not None
    assert (found["seq"], found["list"], found["list_n"]) == (2, "deadletter", 1)
    assert await log.dead_letter("dl-none") is None
    later = dt.datetime(2026, 12, 7, 9, 30, 15, 123_456, tzinfo=dt.UTC)
    earlier = later - dt.timedelta(hours=1)
    for replay_id, at in (("r-2", later), ("r-1", earlier)):
        await log.record_replay(
            {
                "_id": replay_id,
                "dead_letter_id": "dl-1",
                "replayed_by": "depa",
                "at": at,
                "topic": "smartcity.intake",
                "partition": 0,
                "offset": 1,
            }
        )
    replays = await log.replays_of(["dl-1", "dl-none"])
    assert list(replays) == ["dl-1"]
    assert [r["at"] for r in replays["dl-1"]] == [
        earlier.replace(microsecond=123_000),
        later.replace(microsecond=123_000),
    ]
    assert all("_id" not in r for r in replays["dl-1"])


async def test_the_next_append_wakes_whoever_waits_for_it(logs: Logs) -> None:
    log = await logs.new()
    appended = log.next_append()
    assert not await log.wait_for(appended, 0.01)  # nothing appended: the wait times out
    waiting = asyncio.create_task(log.wait_for(appended, 60))
    await log.append(None, content("t:0:1"))
    assert await waiting
    assert not log.next_append().is_set()
