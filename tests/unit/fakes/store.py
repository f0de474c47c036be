"""The aggregate store in memory: `services/common/store.py`'s semantics without a server.

What it keeps of the real store, and `tests/store_contract.py` checks on both:
- a commit is the insert of (aggregate id, version): of two writers that decided on the same
  version exactly one commits, the other loads again and decides again (up to `max_attempts`);
- each commit carries the state after it, its events sealed (stamped `emitted-by`, signed when
  the service has a key) and the ids it consumed; the projection is caught up on load;
- a store remembers its last commit of each aggregate and decides on it without reading; a
  decision that commits nothing, or refuses, is made again on a fresh load; `create` reads
  nothing first;
- what is stored is what a read gives back: state goes through BSON with the client's codec
  options (timezone-aware UTC, milliseconds, lists for tuples; a type BSON cannot store is
  refused and nothing is committed), so a caller changing its objects later changes nothing;
- the outbox: after a commit its events are sent ("Kafka" here is the `sent` list the stores
  of one `MemoryDatabase` share), each aggregate's commits in version order; while
  `kafka_reachable` is False they wait for `publish_pending` (the relay's side).

Every read and write yields to the event loop once, as a round trip to the server does, so
concurrent changes interleave and race as they do on the real store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import bson
from bson.codec_options import CodecOptions
from faststream.kafka import KafkaBroker

from smartcity_th.contracts.envelope import AnyEnvelope, parse_record
from smartcity_th.contracts.signing import HEADER_SIGNATURE
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.documents import Doc
from smartcity_th.services.common.store import (
    REMEMBERED,
    VERSION,
    Commit,
    CommitPublisher,
    ConflictsExhausted,
    Decide,
    Loaded,
    commit_id,
    record_of,
)

if TYPE_CHECKING:
    from smartcity_th.kit import ClaimSigner

R = TypeVar("R")

CODEC: CodecOptions[Doc] = CodecOptions(tz_aware=True)
"""As the services' client reads (`services/common/mongo.py`: `tz_aware=True`)."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class MemoryDatabase:
    """What several stores share, as processes share a database and a broker: each store's
    commits and projection (BSON, by `_id`) and the records sent to "Kafka"."""

    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    current: dict[str, dict[str, bytes]] = field(default_factory=dict)
    sent: list[Doc] = field(default_factory=list)
    kafka_reachable: bool = True

    def envelopes(self, aggregate_id: str | None = None) -> list[AnyEnvelope]:
        """The events sent, in order (of one aggregate, or all)."""
        return [
            parse_record(r["value"].encode("utf-8"))
            for r in self.sent
            if aggregate_id is None or r["key"] == aggregate_id
        ]

    def event_types(self, aggregate_id: str | None = None) -> list[str]:
        return [r["event_type"] for r in self.sent if aggregate_id in (None, r["key"])]


async def _round_trip() -> None:
    await asyncio.sleep(0)


def encode(doc: Doc) -> bytes:
    """A document as the server keeps it (a type BSON cannot store raises, as an insert does)."""
    return bson.encode(doc, codec_options=CODEC)


def decode(raw: bytes) -> Doc:
    """A stored document as the services' client reads it."""
    return bson.decode(raw, CODEC)


def _state_of(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if k not in ("_id", VERSION)}


class InMemoryAggregateStore:
    """One kind of aggregate, as `AggregateStore` keeps it, in a `MemoryDatabase`."""

    def __init__(
        self,
        name: str,
        db: MemoryDatabase | None = None,
        *,
        service: str = "proposals",
        signer: ClaimSigner | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
        max_attempts: int = 50,
    ) -> None:
        self.name = name
        self.db = db if db is not None else MemoryDatabase()
        self._commits = self.db.commits.setdefault(name, {})
        self._current = self.db.current.setdefault(name, {})
        # Only its sealing is used (stamp and signature): "Kafka" here is `db.sent`.
        self._sealer = CommitPublisher(KafkaBroker(), Topics(""), service, signer, clock=clock)
        self._clock = clock
        self._max_attempts = max_attempts
        self._last: OrderedDict[str, Loaded] = OrderedDict()
        self.publish_on_commit = True
        self.relay_wanted = asyncio.Event()

    # ---- the server's side: each a round trip ----

    async def _find_commit(self, aggregate_id: str, version: int) -> Doc | None:
        await _round_trip()
        raw = self._commits.get(commit_id(aggregate_id, version))
        return None if raw is None else decode(raw)

    async def _find_current(self, aggregate_id: str) -> Doc | None:
        await _round_trip()
        raw = self._current.get(aggregate_id)
        return None if raw is None else decode(raw)

    async def _insert_commit(self, doc: Doc) -> bool:
        raw = encode(doc)  # a type BSON cannot store fails here, before anything is sent
        await _round_trip()
        if doc["_id"] in self._commits:
            return False
        self._commits[doc["_id"]] = raw
        return True

    async def _mark_published(self, doc_id: str) -> None:
        await _round_trip()
        stored = decode(self._commits[doc_id])
        self._commits[doc_id] = encode({**stored, "published": True})

    # ---- reading ----

    async def load(self, aggregate_id: str) -> Loaded | None:
        doc = await self._find_current(aggregate_id)
        version = 0 if doc is None else int(doc.get(VERSION, 0))
        state = None if doc is None else _state_of(doc)
        caught_up = False
        while True:
            nxt = await self._find_commit(aggregate_id, version + 1)
            if nxt is None:
                break
            version += 1
            state = nxt["state"]
            caught_up = True
        if state is None:
            return None
        if caught_up:
            await self._project(aggregate_id, version, state)
        return Loaded(aggregate_id, version, state)

    async def exists(self, aggregate_id: str) -> bool:
        return await self._find_commit(aggregate_id, 1) is not None

    async def get(self, aggregate_id: str) -> Doc | None:
        loaded = await self.load(aggregate_id)
        return None if loaded is None else loaded.state

    async def ids_where(self, equals: Mapping[str, Any]) -> list[str]:
        await _round_trip()
        found = []
        for aggregate_id, raw in self._current.items():
            doc = decode(raw)
            if all(k in doc and doc[k] == v for k, v in equals.items()):
                found.append(aggregate_id)
        return sorted(found)

    async def commit(self, aggregate_id: str, version: int) -> Doc | None:
        """One commit as stored (for tests that look at the outbox)."""
        return await self._find_commit(aggregate_id, version)

    # ---- writing ----

    async def change(self, aggregate_id: str, decide: Decide[R]) -> R:
        remembered = self._last.pop(aggregate_id, None)
        for attempt in range(self._max_attempts):
            if attempt:
                await _round_trip()
            if remembered is not None:
                loaded: Loaded | None = remembered
                remembered = None
                try:
                    commit, result = decide(loaded)
                except Exception:
                    commit = None
                if commit is None:
                    loaded = await self.load(aggregate_id)
                    commit, result = decide(loaded)
            else:
                loaded = await self.load(aggregate_id)
                commit, result = decide(loaded)
            if commit is None:
                return result
            version = 1 if loaded is None else loaded.version + 1
            stored = await self._insert(aggregate_id, version, commit)
            if stored is not None:
                await self._committed(aggregate_id, version, stored)
                return result
        raise ConflictsExhausted(f"{self.name} {aggregate_id}: {self._max_attempts} lost races")

    async def create(self, aggregate_id: str, commit: Commit) -> bool:
        stored = await self._insert(aggregate_id, 1, commit)
        if stored is None:
            return False
        await self._committed(aggregate_id, 1, stored)
        return True

    async def _insert(self, aggregate_id: str, version: int, commit: Commit) -> Doc | None:
        extra = dict(commit.headers)
        records = []
        for envelope in commit.events:
            record = record_of(envelope, topic=commit.topics.get(str(envelope.event_id)))
            record["headers"] = {**record["headers"], **extra}
            records.append(self._sealer.seal(record))
        doc = {
            "_id": commit_id(aggregate_id, version),
            "aggregate_id": aggregate_id,
            "version": version,
            "at": self._clock(),
            "state": commit.state,
            "events": records,
            "processed": list(commit.processed),
            "published": not records,
        }
        return doc if await self._insert_commit(doc) else None

    async def _committed(self, aggregate_id: str, version: int, stored: Doc) -> None:
        self._last[aggregate_id] = Loaded(aggregate_id, version, decode(encode(stored["state"])))
        while len(self._last) > REMEMBERED:
            self._last.popitem(last=False)
        await self._project(aggregate_id, version, stored["state"])
        if not self.publish_on_commit:
            return
        if not self.db.kafka_reachable:
            self.relay_wanted.set()
            return
        await self._publish_through(aggregate_id, version)

    async def _project(self, aggregate_id: str, version: int, state: Doc) -> None:
        while True:
            raw = encode({**state, "_id": aggregate_id, VERSION: version})
            await _round_trip()
            self._current[aggregate_id] = raw
            nxt = await self._find_commit(aggregate_id, version + 1)
            if nxt is None:
                return
            version += 1
            state = nxt["state"]

    # ---- the outbox ----

    async def _publish_through(self, aggregate_id: str, version: int) -> int:
        pending: list[Doc] = []
        v = version
        while v >= 1:
            doc = await self._find_commit(aggregate_id, v)
            if doc is None or doc.get("published"):
                break
            pending.append(doc)
            v -= 1
        sent = 0
        for doc in reversed(pending):
            for stored in doc.get("events", []):
                record = (
                    stored if HEADER_SIGNATURE in stored["headers"] else self._sealer.seal(stored)
                )
                await _round_trip()
                self.db.sent.append(record)
                sent += 1
            await self._mark_published(doc["_id"])
        return sent

    async def unpublished(self) -> list[Doc]:
        await _round_trip()
        docs = [decode(raw) for _, raw in sorted(self._commits.items())]
        return [
            {k: d[k] for k in ("_id", "aggregate_id", "version", "at")}
            for d in docs
            if not d["published"]
        ]

    async def publish_pending(
        self, older_than: dt.datetime | None = None
    ) -> tuple[int, list[dt.datetime]]:
        """The relay's pass over this store (`AggregateStore.publish_pending`)."""
        if not self.db.kafka_reachable:
            raise ConnectionError("Kafka is not reachable")
        sent = 0
        pending: list[dt.datetime] = []
        done: set[str] = set()
        for doc in await self.unpublished():
            aid = doc["aggregate_id"]
            if older_than is not None and doc["at"] > older_than:
                pending.append(doc["at"])
                continue
            if aid in done:
                continue
            done.add(aid)
            latest = await self.load(aid)
            version = int(doc["version"]) if latest is None else latest.version
            sent += await self._publish_through(aid, version)
        return sent, pending
