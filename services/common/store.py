"""The aggregate store: every change to an aggregate is one insert.

A change is committed as one document in `<name>_commits` whose `_id` is (aggregate id, next
version) and which carries the aggregate's state after the change, the events the change causes
(the outbox) and the ids of the events or commands it consumed (for idempotent consumers). An
insert of an existing `_id` fails atomically on FerretDB (either backend) and on MongoDB, so that
insert is the optimistic-concurrency check: of two writers that loaded the same version, exactly
one commits; the other reloads and decides again. (A version-guarded update is not atomic on
FerretDB 1.24: several concurrent writers all "succeed".)

The document in `<name>` (same `_id` as the aggregate) is a projection of the commits, kept for
reads and list queries and rebuilt from them: `load` catches up from it by reading the next
commits by `_id`, and re-projects what it found.

Each event is sealed when it is committed: the service signs it with its own registered key
(`contracts.signing.sign`, over the topic with its namespace, the signed-at time, the key, the
event-type header and the value) and stamps it `smartcity-emitted-by`; the commit stores those
headers, and every publish of it (the writer's, the relay's) sends the stored bytes and headers
as they are. A commit stored before services signed their facts (no signature) is signed when it
is published. A service without a signing key commits unsigned facts (consumers refuse them once
the service's first key is registered: docs/security.md, "Signed facts").

After a commit the writer publishes its events right away, each aggregate's commits strictly in
version order (an unpublished earlier commit is published first), then marks the commit
published. A relay publishes what a crash or a Kafka outage left behind: woken by a failed
publish, at start-up, and otherwise only every `sweep_seconds` as a backstop for other
processes' crashes. Publishing is at-least-once; consumers deduplicate by event id.

Handlers only load, decide and commit: `change(aggregate_id, decide)` runs that loop, retrying on
a lost race. No locks, in-process or otherwise.

Round trips. A store remembers the last commit it made of each aggregate (the latest
`REMEMBERED`, as the store would read it back): the next change of that aggregate decides on it
without reading, and the insert of the next version is the check that nothing came in between
(if something did, the insert fails and the change loads and decides again; a decision that
commits nothing, or refuses, is always made again on a fresh load). `create` inserts the first
commit without reading first: that insert is the check that the aggregate is new.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import bson
import structlog
from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Gauge
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from smartcity_th.contracts.access import service_principal
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.contracts.signing import HEADER_SIGNATURE, sign
from smartcity_th.contracts.topics import (
    HEADER_AUTHENTICATED_BY,
    HEADER_EMITTED_BY,
    HEADER_EVENT_TYPE,
    Topics,
)
from smartcity_th.services.common import telemetry
from smartcity_th.services.common.context import authenticated_by
from smartcity_th.services.common.documents import Doc
from smartcity_th.services.common.retry import Backoff, backoff_seconds

if TYPE_CHECKING:
    from smartcity_th.kit import ClaimSigner

log = structlog.get_logger(__name__)

R = TypeVar("R")

EVENTS_PUBLISHED = Counter(
    "smartcity_events_published_total", "Events published to Kafka", ["service", "event_type"]
)
COMMIT_CONFLICTS = Counter(
    "smartcity_store_conflicts_total", "Commits that lost a race and were decided again", ["store"]
)
OUTBOX_PENDING = Gauge(
    "smartcity_outbox_pending", "Commits not yet published (at the last relay pass)", ["service"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "smartcity_outbox_oldest_age_seconds",
    "Age of the oldest unpublished commit (at the last relay pass)",
    ["service"],
)

VERSION = "_version"
"""Field of a projection document: the version of the commit it shows."""

REMEMBERED = 2000
"""How many aggregates' last commits a store keeps in memory (per process)."""

LOST_RACE_BASE = 0.01
LOST_RACE_CEILING = 0.5
"""A writer that lost a race pauses before it loads and decides again: from 5-10 ms after the
first loss, doubling, up to 0.25-0.5 s (retry.py's rule), so that a crowd spreads out."""


def commit_id(aggregate_id: str, version: int) -> str:
    """Zero-padded so that an aggregate's commits sort by version."""
    return f"{aggregate_id}@{version:08d}"


def record_of(envelope: AnyEnvelope, *, topic: str | None = None) -> Doc:
    """One event as the commit carries it: what the publisher sends (bare topic name), the
    credential that authenticated the request or claim that caused it, and the trace it was
    caused in (the publish, now or by the relay, continues that trace)."""
    return {
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
        "topic": topic or EVENTS[envelope.event_type].fact_topic,
        "key": envelope.proposal_id,
        "value": envelope.model_dump_json(),
        "headers": _with_credential(envelope.headers()),
        "trace": telemetry.capture(),
    }


def _with_credential(headers: dict[str, str]) -> dict[str, str]:
    credential = authenticated_by.get()
    return headers if credential is None else {**headers, HEADER_AUTHENTICATED_BY: credential}


@dataclass(frozen=True)
class Loaded:
    """An aggregate as of its latest commit."""

    aggregate_id: str
    version: int
    state: Doc


@dataclass(frozen=True)
class Commit:
    """What a decision commits: the state after it, the events it causes, what it consumed."""

    state: Doc
    events: Sequence[AnyEnvelope] = ()
    processed: Sequence[str] = ()
    topics: Mapping[str, str] = field(default_factory=dict)
    """Event id -> bare topic, for an event that does not go to its type's fact topic."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra record headers for every event of this commit (e.g. trace context)."""


Decision = tuple[Commit | None, R]
Decide = Callable[[Loaded | None], Decision[R]]
"""A decision: pure, on the aggregate as loaded (no I/O: it may be made more than once)."""


class ConflictsExhausted(Exception):
    """A change kept losing races for the same aggregate; nothing was committed."""


class Aggregates(Protocol):
    """The port handlers and repositories use: one kind of aggregate, changed only by commits.
    `AggregateStore` is the adapter; the unit tests' in-memory twin
    (`tests/unit/fakes/store.py`) keeps the same contract (`tests/store_contract.py`, run
    against both)."""

    name: str

    async def load(self, aggregate_id: str) -> Loaded | None: ...

    async def exists(self, aggregate_id: str) -> bool: ...

    async def get(self, aggregate_id: str) -> Doc | None: ...

    async def change(self, aggregate_id: str, decide: Decide[R]) -> R: ...

    async def create(self, aggregate_id: str, commit: Commit) -> bool: ...

    async def ids_where(self, equals: Mapping[str, Any]) -> list[str]: ...


class CommitPublisher:
    """Publishes commits' events to Kafka, each aggregate's commits in version order."""

    def __init__(
        self,
        broker: KafkaBroker,
        topics: Topics,
        service: str,
        signer: ClaimSigner | None = None,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._broker = broker
        self._topics = topics
        self._service = service
        self._emitter = service_principal(service)
        self._signer = signer
        self._clock = clock
        self.relay_wanted = asyncio.Event()
        self.publish_on_commit = True

    def seal(self, record: Doc) -> Doc:
        """The record with this service's `emitted-by` stamp and, if it has a signing key, its
        signature for the record's topic (with the namespace) and now; a record sealed before
        keeps its signature."""
        headers = {**record["headers"], HEADER_EMITTED_BY: self._emitter}
        if self._signer is not None and HEADER_SIGNATURE not in headers:
            headers |= sign(
                self._signer.private_key,
                self._signer.key_id,
                record["value"].encode("utf-8"),
                record["key"].encode("utf-8"),
                str(headers.get(HEADER_EVENT_TYPE, record["event_type"])),
                topic=self._topics.name(record["topic"]),
                signed_at=self._clock(),
            )
        return {**record, "headers": headers}

    async def publish_through(
        self,
        commits: AsyncCollection[Doc],
        aggregate_id: str,
        version: int,
        latest: Doc | None = None,
    ) -> int:
        """Publish every unpublished commit of one aggregate up to `version` (`latest`: that
        commit, if the caller has it), oldest first, and mark each published; returns how many
        events were sent."""
        pending: list[Doc] = []
        v = version
        while v >= 1:
            if v == version and latest is not None:
                doc: Doc | None = latest
            else:
                doc = await commits.find_one({"_id": commit_id(aggregate_id, v)})
            if doc is None or doc.get("published"):
                break
            pending.append(doc)
            v -= 1
        sent = 0
        for doc in reversed(pending):
            for stored in doc.get("events", []):
                record = stored if HEADER_SIGNATURE in stored["headers"] else self.seal(stored)
                with (
                    telemetry.restored(record.get("trace")),
                    telemetry.span(
                        f"outbox publish {record['event_type']}",
                        attributes={
                            telemetry.ATTR_PROPOSAL_ID: record["key"],
                            telemetry.ATTR_EVENT_TYPE: record["event_type"],
                            telemetry.ATTR_EVENT_ID: record["event_id"],
                        },
                    ),
                ):
                    await self._broker.publish(
                        record["value"].encode("utf-8"),
                        self._topics.name(record["topic"]),
                        key=record["key"].encode("utf-8"),
                        headers=record["headers"],
                    )
                EVENTS_PUBLISHED.labels(self._service, record["event_type"]).inc()
                sent += 1
            await commits.update_one({"_id": doc["_id"]}, {"$set": {"published": True}})
        return sent

    async def try_publish(
        self, commits: AsyncCollection[Doc], aggregate_id: str, version: int, latest: Doc
    ) -> None:
        """Publish now if Kafka is reachable, else wake the relay. Never raises: the events
        are safe in the commit either way."""
        if not self.publish_on_commit:
            return
        try:
            await self.publish_through(commits, aggregate_id, version, latest)
        except Exception as exc:
            log.warning("store.publish_deferred", aggregate_id=aggregate_id, error=repr(exc))
            self.relay_wanted.set()


class AggregateStore:
    """One kind of aggregate: commits in `<name>_commits`, the projection in `<name>`."""

    def __init__(
        self,
        db: AsyncDatabase[Doc],
        name: str,
        publisher: CommitPublisher,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        max_attempts: int = 50,
    ) -> None:
        self.name = name
        self.commits: AsyncCollection[Doc] = db[f"{name}_commits"]
        self.current: AsyncCollection[Doc] = db[name]
        self._publisher = publisher
        self._clock = clock
        self._max_attempts = max_attempts
        self._last: OrderedDict[str, Loaded] = OrderedDict()

    async def ensure_indexes(self) -> None:
        await self.commits.create_index([("published", ASCENDING)])

    # ---- reading ----

    async def load(self, aggregate_id: str) -> Loaded | None:
        """The aggregate as of its latest commit (None if it has none)."""
        doc = await self.current.find_one({"_id": aggregate_id})
        version = 0 if doc is None else int(doc.get(VERSION, 0))
        state = None if doc is None else _state_of(doc)
        caught_up = False
        while True:
            nxt = await self.commits.find_one(
                {"_id": commit_id(aggregate_id, version + 1)}, {"state": 1}
            )
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
        """Has the aggregate any commit (one lookup of its first)?"""
        first = await self.commits.find_one({"_id": commit_id(aggregate_id, 1)}, {"_id": 1})
        return first is not None

    async def get(self, aggregate_id: str) -> Doc | None:
        loaded = await self.load(aggregate_id)
        return None if loaded is None else loaded.state

    async def ids_where(self, equals: Mapping[str, Any]) -> list[str]:
        """The ids of the aggregates whose projection has these top-level values, in id order."""
        docs = await self.current.find(dict(equals), {"_id": 1}).to_list(None)
        return sorted(str(d["_id"]) for d in docs)

    # ---- writing ----

    async def change(self, aggregate_id: str, decide: Decide[R]) -> R:
        """Load, decide, commit; on a lost race load again and decide again (after a short
        random pause that grows with the losses, so that a crowd of writers spreads out). The
        first decision is made on this store's last commit of the aggregate when it has one
        (no read): a commit on it fails if another came in between, and a decision to commit
        nothing, or a refusal, is made again on a fresh load."""
        remembered = self._last.pop(aggregate_id, None)
        for attempt in range(self._max_attempts):
            if attempt:
                await asyncio.sleep(backoff_seconds(attempt, LOST_RACE_BASE, LOST_RACE_CEILING))
            if remembered is not None:
                loaded: Loaded | None = remembered
                remembered = None
                try:
                    commit, result = decide(loaded)
                except Exception:
                    commit = None
                if commit is None:  # a refusal or nothing to do: only on what is stored
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
            COMMIT_CONFLICTS.labels(self.name).inc()
        raise ConflictsExhausted(f"{self.name} {aggregate_id}: {self._max_attempts} lost races")

    async def create(self, aggregate_id: str, commit: Commit) -> bool:
        """Commit version 1 of a new aggregate; False if it exists already (the insert of its
        first commit is the check: nothing is read first)."""
        stored = await self._insert(aggregate_id, 1, commit)
        if stored is None:
            return False
        await self._committed(aggregate_id, 1, stored)
        return True

    async def _committed(self, aggregate_id: str, version: int, stored: Doc) -> None:
        """After a commit: remember it, project it, publish its events."""
        self._remember(aggregate_id, version, stored["state"])
        await self._project(aggregate_id, version, stored["state"])
        await self._publisher.try_publish(self.commits, aggregate_id, version, stored)

    def _remember(self, aggregate_id: str, version: int, state: Doc) -> None:
        """Keep the commit's state as a read would give it back (BSON types, tz-aware UTC,
        milliseconds), not the caller's objects (which it may change later)."""
        options = self.commits.codec_options
        self._last[aggregate_id] = Loaded(
            aggregate_id, version, bson.decode(bson.encode(state, codec_options=options), options)
        )
        while len(self._last) > REMEMBERED:
            self._last.popitem(last=False)

    async def _insert(self, aggregate_id: str, version: int, commit: Commit) -> Doc | None:
        """The commit as stored, or None if that version exists (a lost race)."""
        extra = dict(commit.headers)
        records = []
        for envelope in commit.events:
            record = record_of(envelope, topic=commit.topics.get(str(envelope.event_id)))
            record["headers"] = {**record["headers"], **extra}
            records.append(self._publisher.seal(record))
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
        try:
            await self.commits.insert_one(doc)
        except DuplicateKeyError:
            return None
        return doc

    async def _project(self, aggregate_id: str, version: int, state: Doc) -> None:
        """Write the projection, then make sure no later commit slipped in meanwhile (another
        writer's projection of it may have landed before ours): the last write always shows
        the latest commit."""
        while True:
            try:
                await self.current.replace_one(
                    {"_id": aggregate_id},
                    {**state, "_id": aggregate_id, VERSION: version},
                    upsert=True,
                )
            except DuplicateKeyError:  # two first projections at once: the other inserted
                continue
            nxt = await self.commits.find_one(
                {"_id": commit_id(aggregate_id, version + 1)}, {"state": 1}
            )
            if nxt is None:
                return
            version += 1
            state = nxt["state"]

    async def rebuild_projection(self) -> int:
        """Rebuild every projection document from the commits; returns how many."""
        latest: dict[str, int] = {}
        async for doc in self.commits.find({}, {"aggregate_id": 1, "version": 1}):
            aid = doc["aggregate_id"]
            latest[aid] = max(latest.get(aid, 0), int(doc["version"]))
        for aid, version in latest.items():
            last = await self.commits.find_one({"_id": commit_id(aid, version)}, {"state": 1})
            assert last is not None
            await self._project(aid, version, last["state"])
        return len(latest)

    # ---- the relay's side ----

    async def unpublished(self) -> list[Doc]:
        return (
            await self.commits.find(
                {"published": False}, {"aggregate_id": 1, "version": 1, "at": 1}
            )
            .sort("_id", ASCENDING)
            .to_list(None)
        )

    async def publish_pending(
        self,
        older_than: dt.datetime | None = None,
        publisher: CommitPublisher | None = None,
        unpublished: list[Doc] | None = None,
    ) -> tuple[int, list[dt.datetime]]:
        """Publish the unpublished commits (those older than `older_than`; `unpublished`: this
        store's, if the caller has read them); returns the events sent and when each commit
        left pending was made. Re-projects each one too: a crash between commit and projection
        leaves both undone."""
        sent = 0
        pending: list[dt.datetime] = []
        done: set[str] = set()
        for doc in await self.unpublished() if unpublished is None else unpublished:
            aid = doc["aggregate_id"]
            if older_than is not None and doc["at"] > older_than:
                pending.append(doc["at"])
                continue
            if aid in done:
                continue
            done.add(aid)
            latest = await self.load(aid)  # re-projects a commit the crash left unprojected
            version = int(doc["version"]) if latest is None else latest.version
            via = publisher or self._publisher
            sent += await via.publish_through(self.commits, aid, version)
        return sent, pending


def _aware(at: dt.datetime) -> dt.datetime:
    """A stored time as UTC (a client without `tz_aware` reads naive UTC datetimes)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _state_of(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if k not in ("_id", VERSION)}


class Relay:
    """Publishes what writers left behind, in every store of a service."""

    def __init__(
        self,
        publisher: CommitPublisher,
        stores: Sequence[AggregateStore],
        service: str,
        *,
        sweep_seconds: float = 120.0,
        grace_seconds: float = 2.0,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._publisher = publisher
        self._stores = stores
        self._service = service
        self._sweep = sweep_seconds
        self._grace = grace_seconds
        self._clock = clock

    async def sweep_once(self, *, grace_seconds: float | None = None) -> int:
        """One pass over every store. The outbox gauges show the pass: before publishing, the
        commits found unpublished (so a pass that fails, Kafka being away, still reports how
        old the backlog is); after it, those left for the writers' grace period."""
        grace = self._grace if grace_seconds is None else grace_seconds
        now = self._clock()
        cutoff = now - dt.timedelta(seconds=grace)
        found = [(store, await store.unpublished()) for store in self._stores]
        self._report(now, [doc["at"] for _, docs in found for doc in docs])
        sent = 0
        left: list[dt.datetime] = []
        for store, docs in found:
            s, pending = await store.publish_pending(cutoff, self._publisher, docs)
            sent += s
            left += pending
        self._report(now, left)
        return sent

    def _report(self, now: dt.datetime, unpublished_at: list[dt.datetime]) -> None:
        OUTBOX_PENDING.labels(self._service).set(len(unpublished_at))
        oldest = min(unpublished_at, default=None)
        age = 0.0 if oldest is None else (now - _aware(oldest)).total_seconds()
        OUTBOX_OLDEST_AGE.labels(self._service).set(max(age, 0.0))

    async def run(self) -> None:
        """A pass at start-up, then whenever a publish failed (retrying with capped backoff
        while Kafka is away) and every `sweep_seconds` as a backstop."""
        wanted = self._publisher.relay_wanted
        backoff = Backoff(0.5, 10.0)
        while True:
            try:
                wanted.clear()
                count = await self.sweep_once()
                if count:
                    log.info("outbox.relayed", count=count)
                backoff.succeeded()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox.sweep_failed", error=repr(exc))
                wanted.set()
                await asyncio.sleep(backoff.after_failure())
                continue
            if wanted.is_set():
                # a publish failed during the pass: retry soon
                await asyncio.sleep(backoff.after_failure())
                continue
            try:
                await asyncio.wait_for(wanted.wait(), timeout=self._sweep)
                await asyncio.sleep(self._grace)  # let the failed writer's commit age past grace
            except TimeoutError:
                pass
