"""The delivery log (`ports.DeliveryLog`): one aggregate per email in the store (queued, leased
to a sender, sent or failed, held for a digest or for review), each step a commit, and its
mapping to and from the stored documents.

The steps and their rules (what may follow what, the lease) are written once, on the store's
port (`DeliveryCommits`); what finds the emails to act on reads the store's projection, which
is each store's own: `MongoDeliveryLog` here, and the unit tests' in-memory twin
(`tests/unit/fakes/notifications.py`), both held to one contract
(`tests/notifications_contract.py`). Every per-email read and write goes by `_id` alone, which
FerretDB pushes down to its backend."""

from __future__ import annotations

import asyncio
import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.services.common.context import Source
from smartcity_th.services.common.documents import Doc
from smartcity_th.services.common.store import (
    Aggregates,
    AggregateStore,
    Commit,
    Decision,
    Loaded,
)
from smartcity_th.services.notifications.domain import Delivery, DigestItem, LetterRef
from smartcity_th.services.notifications.ports import LEASE_SECONDS, Listing

UNLISTED = ("html", "text", "event_value")
"""What the listing of the log leaves out of each email (the bodies and the event)."""


def _source_doc(source: Source | None) -> Doc | None:
    if source is None:
        return None
    return {"topic": source.topic, "partition": source.partition, "offset": source.offset}


def _source(doc: Doc | None) -> Source | None:
    if not doc:
        return None
    return Source(doc["topic"], doc["partition"], doc["offset"])


def delivery_doc(d: Delivery) -> Doc:
    """The document of a delivery as queued: an email about an event, one that cannot be
    addressed (failed at once), or a digest with its body and items."""
    doc: Doc = {
        "_id": d.delivery_id,
        "kind": d.kind,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "proposal_id": d.proposal_id,
        "recipient_id": d.recipient_id,
        "email": d.email,
        "status": d.status,
        "attempts": d.attempts,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    }
    if d.kind == "event":
        doc |= {
            "occurred_at": d.occurred_at,
            "source": _source_doc(d.source),
            "trace": None if d.trace is None else dict(d.trace),
        }
    if d.status == "failed":
        return doc | {"last_error": d.last_error, "failed_at": d.failed_at}
    doc |= {
        "name_th": d.name_th,
        "name_en": d.name_en,
        "message_id": d.message_id,
        "subject": d.subject,
        "next_attempt_at": d.next_attempt_at,
    }
    if d.letter is not None:
        doc["letter"] = d.letter.as_doc()
    if d.status == "review":
        doc["last_error"] = d.last_error
    if d.kind == "event":
        return doc | {
            "timeline_url": d.timeline_url,
            "digest_id": d.digest_id,
            "cc": [{"name": n, "email": e} for n, e in d.cc],
            "copy_of": d.copy_of,
        }
    items = [
        {
            "_id": i.delivery_id,
            "event_id": i.event_id,
            "event_type": i.event_type,
            "proposal_id": i.proposal_id,
            "subject": i.subject,
            "occurred_at": i.occurred_at,
            "source": _source_doc(i.source),
            "event_value": i.event_value,
            "letter": None if i.letter is None else i.letter.as_doc(),
        }
        for i in d.items
    ]
    return doc | {"text": d.text, "html": d.html, "items": items}


def delivery_from(doc: Doc) -> Delivery:
    """A delivery as stored, at any step (older documents lack the later fields)."""
    return Delivery(
        delivery_id=doc["_id"],
        kind="digest" if doc.get("kind") == "digest" else "event",
        event_id=doc["event_id"],
        event_type=doc["event_type"],
        proposal_id=doc.get("proposal_id"),
        recipient_id=doc["recipient_id"],
        email=doc.get("email"),
        status=doc["status"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        attempts=int(doc.get("attempts", 0)),
        next_attempt_at=doc.get("next_attempt_at"),
        name_th=doc.get("name_th"),
        name_en=doc.get("name_en"),
        message_id=doc.get("message_id"),
        subject=doc.get("subject"),
        timeline_url=doc.get("timeline_url"),
        occurred_at=doc.get("occurred_at"),
        source=_source(doc.get("source")),
        trace=doc.get("trace"),
        digest_id=doc.get("digest_id"),
        last_error=doc.get("last_error"),
        failed_at=doc.get("failed_at"),
        text=doc.get("text"),
        html=doc.get("html"),
        event_value=doc.get("event_value"),
        cc=tuple((c.get("name") or "", c["email"]) for c in doc.get("cc") or ()),
        copy_of=doc.get("copy_of"),
        letter=LetterRef.from_doc(doc.get("letter")),
        items=tuple(
            DigestItem(
                i["_id"],
                i["event_id"],
                i["event_type"],
                i["proposal_id"],
                i.get("subject"),
                i.get("occurred_at"),
                _source(i.get("source")),
                i.get("event_value"),
                LetterRef.from_doc(i.get("letter")),
            )
            for i in doc.get("items") or ()
        ),
    )


Change = Callable[[Doc], Doc | None]


class DeliveryCommits(ABC):
    """The delivery log's steps, each one commit of one email's aggregate: queued, leased to a
    sender (the lease is a commit too, so of several senders exactly one holds an email), sent,
    retried or failed; held for a digest (claimed by a digest id, then digested) or for review
    (released). The queries that find the emails to act on are the subclass's, and so are the
    rest of the port's (`held_recipients`, `stats`, `listing`: `UNLISTED` is what a listing
    leaves out, also of a digest's items)."""

    def __init__(self, store: Aggregates) -> None:
        self.store = store

    # ---- the queries on the projection ----

    @abstractmethod
    async def _due(self, now: dt.datetime, limit: int) -> list[str]:
        """The ids of up to `limit` queued emails due by `now`."""

    @abstractmethod
    async def _held_for(self, email: str) -> list[str]:
        """The ids of the emails held for `email`'s digest and not claimed by one."""

    @abstractmethod
    async def _claimed(self) -> list[Doc]:
        """The held emails claimed by a digest (as stored, without text and html), the
        earliest event first."""

    @abstractmethod
    async def _in_digest(self, digest_id: str) -> list[str]:
        """The ids of the held emails claimed by `digest_id`."""

    # ---- the steps ----

    async def queue(self, delivery: Delivery, events: Sequence[AnyEnvelope] = ()) -> bool:
        """Queue one email (or record one that cannot be sent, with its events); False if
        this (event, recipient) was queued before."""
        state = {k: v for k, v in delivery_doc(delivery).items() if k != "_id"}
        return await self.store.create(
            delivery.delivery_id,
            Commit(state=state, events=events, processed=[delivery.event_id]),
        )

    async def queue_many(
        self,
        deliveries: list[Delivery],
        events: Mapping[str, AnyEnvelope] | None = None,
        *,
        leased_until: dt.datetime | None = None,
    ) -> set[str]:
        """Queue the emails of one event (`events`: the one event a delivery records, by its
        id); returns the ids queued now (an id queued before, by an earlier delivery of the
        same event, is skipped). With `leased_until`, each email to be sent is queued already
        leased to this process's sender until then (the queuing commit is its lease: no claim
        commit follows; if this process dies, the email is due when the lease ends)."""
        events = events or {}
        if leased_until is not None:
            deliveries = [
                replace(d, next_attempt_at=leased_until) if d.status == "queued" else d
                for d in deliveries
            ]
        created = await asyncio.gather(
            *(
                self.queue(d, [e] if (e := events.get(d.delivery_id)) is not None else [])
                for d in deliveries
            )
        )
        return {d.delivery_id for d, new in zip(deliveries, created, strict=True) if new}

    async def _change(
        self, delivery_id: str, change: Change, events: Sequence[AnyEnvelope] = ()
    ) -> Doc | None:
        """Apply `change` to the delivery's state and commit it (None from `change`: nothing
        to do); returns the new state with its `_id`, or None."""

        def decide(loaded: Loaded | None) -> Decision[Doc | None]:
            if loaded is None:
                return None, None
            new = change(dict(loaded.state))
            if new is None:
                return None, None
            return Commit(state=new, events=events), {**new, "_id": delivery_id}

        return await self.store.change(delivery_id, decide)

    async def get(self, delivery_id: str) -> Delivery | None:
        state = await self.store.get(delivery_id)
        return None if state is None else delivery_from({**state, "_id": delivery_id})

    async def release(self, rendered: Delivery, now: dt.datetime) -> bool:
        """A letter held for review, rendered again and passed: it takes the new rendering's
        subject, copies and status (queued, or held for a digest for a copy). False if it was
        not held for review (released already)."""
        fresh = {k: v for k, v in delivery_doc(rendered).items() if k not in ("_id", "created_at")}

        def released(state: Doc) -> Doc | None:
            if state.get("status") != "review":
                return None
            return {**state, **fresh, "last_error": None, "released_at": now, "updated_at": now}

        return await self._change(rendered.delivery_id, released) is not None

    async def still_held(self, delivery_id: str, problems: list[str], now: dt.datetime) -> None:
        def held(state: Doc) -> Doc | None:
            if state.get("status") != "review":
                return None
            return {**state, "last_error": "; ".join(problems)[:500], "updated_at": now}

        await self._change(delivery_id, held)

    async def claim(
        self, delivery_id: str, now: dt.datetime, lease_seconds: float = LEASE_SECONDS
    ) -> Delivery | dt.datetime | None:
        """Lease one email to this sender if it is queued and due: a commit, so of several
        senders exactly one gets it. An email whose sender died is due again when the lease
        ends (and is re-sent with the same Message-ID). For a queued email not due yet (leased
        to a sender, or waiting for its next attempt): when it is due; None when it is not
        queued (sent, failed, held)."""
        lease_until = now + dt.timedelta(seconds=lease_seconds)

        def decide(loaded: Loaded | None) -> Decision[Delivery | dt.datetime | None]:
            if loaded is None or loaded.state.get("status") != "queued":
                return None, None
            due: dt.datetime = loaded.state["next_attempt_at"]
            if due > now:
                return None, due
            leased = {**loaded.state, "next_attempt_at": lease_until}
            return Commit(state=leased), delivery_from({**leased, "_id": delivery_id})

        return await self.store.change(delivery_id, decide)

    async def claim_due(
        self, now: dt.datetime, lease_seconds: float = LEASE_SECONDS, limit: int = 50
    ) -> list[Delivery]:
        """Take up to `limit` due emails (one query finds candidates, each is then claimed)."""
        candidates = await self._due(now, limit)
        found = await asyncio.gather(*(self.claim(c, now, lease_seconds) for c in candidates))
        return [d for d in found if isinstance(d, Delivery)]

    @staticmethod
    def _unsettled(state: Doc) -> bool:
        return state.get("status") not in ("sent", "failed")

    async def mark_sent(
        self,
        delivery_id: str,
        attempts: int,
        reply: str,
        now: dt.datetime,
        events: list[AnyEnvelope],
    ) -> bool:
        """Record a claimed email as sent, its NotificationSent events in the same commit;
        False if it was settled already (by another sender after our lease ended)."""

        def sent(state: Doc) -> Doc | None:
            if not self._unsettled(state):
                return None
            return {
                **state,
                "status": "sent",
                "attempts": attempts,
                "sent_at": now,
                "smtp_reply": reply[:500],
                "updated_at": now,
            }

        return await self._change(delivery_id, sent, events) is not None

    async def mark_retry(
        self, delivery_id: str, attempts: int, error: str, next_at: dt.datetime, now: dt.datetime
    ) -> None:
        def retry(state: Doc) -> Doc | None:
            if not self._unsettled(state):
                return None
            return {
                **state,
                "attempts": attempts,
                "last_error": error[:500],
                "next_attempt_at": next_at,
                "updated_at": now,
            }

        await self._change(delivery_id, retry)

    async def mark_failed(
        self,
        delivery_id: str,
        attempts: int,
        error: str,
        now: dt.datetime,
        events: list[AnyEnvelope],
    ) -> bool:
        """Record a claimed email as failed, its NotificationFailed events in the same commit."""

        def failed(state: Doc) -> Doc | None:
            if not self._unsettled(state):
                return None
            return {
                **state,
                "status": "failed",
                "attempts": attempts,
                "last_error": error[:500],
                "failed_at": now,
                "updated_at": now,
            }

        return await self._change(delivery_id, failed, events) is not None

    # Digests: emails held for a digest recipient ("held") are claimed by a digest id, then
    # queued as one digest email, then settled ("digested"). A crash between the steps leaves
    # them claimed, and the next run finishes that digest. Each step is a commit per email.

    async def claim_held(self, email: str, digest_id: str) -> None:
        """Claim the emails held for `email`'s digest by `digest_id`."""

        def claim(state: Doc) -> Doc | None:
            if state.get("status") != "held" or state.get("digest_id") is not None:
                return None
            return {**state, "digest_id": digest_id}

        for delivery_id in await self._held_for(email):
            await self._change(delivery_id, claim)

    async def claimed_items(self) -> dict[str, list[Delivery]]:
        """The held emails claimed by each digest, the earliest event first."""
        out: dict[str, list[Delivery]] = {}
        for d in await self._claimed():
            out.setdefault(d["digest_id"], []).append(delivery_from(d))
        return out

    async def digested_ids(self, digest_id: str) -> set[str]:
        """The held emails a queued digest includes."""
        stored = await self.store.get(digest_id)
        return {i["_id"] for i in (stored or {}).get("items", [])}

    async def settle_claimed(self, digest_id: str, included: set[str]) -> None:
        """Settle the emails `digest_id` claimed: digested if the queued digest includes them
        (`included`), else unclaimed, for the next digest."""
        for delivery_id in await self._in_digest(digest_id):
            digested = delivery_id in included

            def settle(state: Doc, digested: bool = digested) -> Doc | None:
                if state.get("status") != "held" or state.get("digest_id") != digest_id:
                    return None
                if digested:
                    return {**state, "status": "digested"}
                return {**state, "digest_id": None}

            await self._change(delivery_id, settle)


class MongoDeliveryLog(DeliveryCommits):
    """The delivery log in the MongoDB store; its queries read the projection (`<name>`),
    each served by one of the indexes made at start."""

    def __init__(self, store: AggregateStore) -> None:
        super().__init__(store)
        self.mongo = store
        self.collection: AsyncCollection[Doc] = store.current

    async def ensure_indexes(self) -> None:
        await self.mongo.ensure_indexes()
        await self.collection.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self.collection.create_index([("status", ASCENDING), ("created_at", ASCENDING)])
        await self.collection.create_index([("proposal_id", ASCENDING), ("created_at", ASCENDING)])
        await self.collection.create_index([("created_at", DESCENDING)])
        await self.collection.create_index([("status", ASCENDING), ("digest_id", ASCENDING)])

    async def _ids(self, query: Doc, limit: int = 0) -> list[str]:
        docs = await self.collection.find(query, {"_id": 1}).limit(limit).to_list(None)
        return [str(d["_id"]) for d in docs]

    async def _due(self, now: dt.datetime, limit: int) -> list[str]:
        return await self._ids({"status": "queued", "next_attempt_at": {"$lte": now}}, limit)

    async def held_recipients(self) -> list[str]:
        docs = await self.collection.find(
            {"status": "held", "digest_id": None}, {"email": 1}
        ).to_list(None)
        return sorted({d["email"] for d in docs})

    async def _held_for(self, email: str) -> list[str]:
        return await self._ids({"status": "held", "email": email, "digest_id": None})

    async def _claimed(self) -> list[Doc]:
        return (
            await self.collection.find(
                {"status": "held", "digest_id": {"$ne": None}}, {"html": 0, "text": 0}
            )
            .sort("occurred_at", ASCENDING)
            .to_list(None)
        )

    async def _in_digest(self, digest_id: str) -> list[str]:
        return await self._ids({"digest_id": digest_id, "status": "held"})

    async def stats(self, now: dt.datetime) -> dict[str, float]:
        """Queue figures, each answered by the store from its status index: three counts and
        the oldest queued email's time (one document), never the queue itself. Equalities on
        `status` only: FerretDB 1.24 hands `{"status": "queued"}` to its backend, but decodes
        every document of the log for a `$in` (about 5 s of its CPU for 20,000 deliveries)."""
        queued = await self.collection.count_documents({"status": "queued"})
        retrying = (
            await self.collection.count_documents({"status": "queued", "attempts": {"$gt": 0}})
            if queued
            else 0
        )
        held = await self.collection.count_documents({"status": "held"})
        oldest = None
        if queued:
            first = (
                await self.collection.find({"status": "queued"}, {"_id": 0, "created_at": 1})
                .sort("created_at", ASCENDING)
                .limit(1)
                .to_list(1)
            )
            oldest = first[0]["created_at"] if first else None
        return {
            "retrying": retrying,
            "queued": queued,
            "held": held,
            "oldest_queued_age_seconds": 0.0
            if oldest is None
            else max(0.0, (now - oldest).total_seconds()),
        }

    async def listing(self, which: Listing) -> list[Doc]:
        query: dict[str, Any] = {}
        if which.recipient_id is not None:
            query["recipient_id"] = which.recipient_id
        if which.proposal_id:
            query["proposal_id"] = which.proposal_id
        if which.status:
            query["status"] = which.status
        unlisted = dict.fromkeys(("outbox", *UNLISTED, "items.event_value"), 0)
        cursor = self.collection.find(query, unlisted).sort("created_at", DESCENDING)
        return await cursor.limit(which.limit).to_list(None)
