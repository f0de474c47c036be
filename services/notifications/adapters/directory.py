"""The recipients directory (this service's own database): who gets email at which address."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from smartcity_th.contracts.agencies import agencies, governor_th
from smartcity_th.contracts.common import Email, StorableText
from smartcity_th.contracts.reference import provinces
from smartcity_th.services.common.documents import Doc
from smartcity_th.services.notifications.domain import Recipient
from smartcity_th.services.notifications.letters import governor_office_id

SEED_ADDRESSES = {
    "depa": "smartcity-office@depa.example.go.th",
    "des-subcommittee": "smartcity-subcommittee@mdes.example.go.th",
    "steering-committee": "smartcity-steering@opm.example.go.th",
    "cabinet-secretariat": "cabinet-affairs@soc.example.go.th",
}


def _one_line(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must be one line without control characters (no CR/LF)")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_one_line),
]
RecipientId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._:-]{1,63}$")]


class RecipientIn(StorableText):
    """A new directory entry (an agency or office that receives email)."""

    model_config = ConfigDict(extra="forbid")
    recipient_id: RecipientId = Field(description="Directory id: an agency id or governor-<code>")
    email: Email = Field(description="Where its email goes")
    name_th: Name = Field(description="Display name in Thai")
    name_en: Name = Field(description="Display name in English")
    digest: bool = Field(False, description="One daily summary instead of one email per event")


class RecipientChange(StorableText):
    """Fields to change in a directory entry; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")
    email: Email | None = None
    name_th: Name | None = None
    name_en: Name | None = None
    digest: bool | None = None


def seed_documents() -> list[Doc]:
    """Every agency of the directory and every governor's office, with clearly fake addresses."""
    docs: list[Doc] = []
    for a in agencies().values():
        if a.kind.value == "system":
            continue
        email = SEED_ADDRESSES.get(a.agency_id, f"{a.agency_id}@smartcity.example.go.th")
        docs.append(
            {
                "_id": a.agency_id,
                "email": email,
                "name_th": a.name_th,
                "name_en": a.name_en,
                "digest": False,
            }
        )
    for p in provinces():
        docs.append(
            {
                "_id": governor_office_id(p.code),
                "email": f"governor-{p.code}@provinces.example.go.th",
                # Addressed to the office-holder: ผู้ว่าราชการจังหวัด…, and for Bangkok (not a
                # จังหวัด) ผู้ว่าราชการกรุงเทพมหานคร.
                "name_th": governor_th(p.name_th),
                "name_en": f"Governor of {p.name_en}" + ("" if p.code == "10" else " Province"),
                "digest": False,
            }
        )
    return docs


# How long `get` trusts its copy of the directory. Changes through this process's API are seen
# at once (they clear the copy); changes by another process (the CLI, another instance) within
# this many seconds.
CACHE_SECONDS = 5.0


def _recipient(doc: Doc) -> Recipient:
    return Recipient(
        doc["_id"], doc["email"], doc["name_th"], doc["name_en"], bool(doc.get("digest", False))
    )


class RecipientsDirectory:
    def __init__(
        self,
        db: AsyncDatabase[Doc],
        cache_seconds: float = CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.collection: AsyncCollection[Doc] = db["recipients"]
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: dict[str, Recipient] | None = None
        self._cached_at = 0.0
        self._generation = 0  # bumped by every change: a copy read before it is not kept

    def invalidate(self) -> None:
        self._cache = None
        self._generation += 1

    async def seed(self) -> int:
        """Add the seed entries that are missing; never overwrites an edited entry.

        (Inserts only the missing ids: on FerretDB 1.24 a bulk of $setOnInsert upserts that
        match existing documents does not return.)"""
        existing = {d["_id"] for d in await self.collection.find({}, {"_id": 1}).to_list(None)}
        missing = [d for d in seed_documents() if d["_id"] not in existing]
        if missing:
            try:
                await self.collection.insert_many(missing, ordered=False)
            except BulkWriteError as exc:  # another instance seeded the same ids meanwhile
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise
        return len(missing)

    async def list(self, prefix: str | None = None) -> list[Doc]:
        query: Doc = {"_id": {"$regex": "^" + re.escape(prefix)}} if prefix else {}
        return await self.collection.find(query).sort("_id", ASCENDING).to_list(None)

    async def find(self, recipient_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": recipient_id})

    async def create(self, entry: RecipientIn, by: str) -> Doc | None:
        """Add an entry; None if the id is taken."""
        doc = {
            "_id": entry.recipient_id,
            "email": entry.email,
            "name_th": entry.name_th,
            "name_en": entry.name_en,
            "digest": entry.digest,
            "updated_at": dt.datetime.now(dt.UTC),
            "updated_by": by,
        }
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            return None
        finally:
            self.invalidate()
        return doc

    async def update(self, recipient_id: str, change: RecipientChange, by: str) -> Doc | None:
        """Change an entry; None if there is no such entry."""
        fields = change.model_dump(exclude_none=True)
        try:
            return await self.collection.find_one_and_update(
                {"_id": recipient_id},
                {"$set": {**fields, "updated_at": dt.datetime.now(dt.UTC), "updated_by": by}},
                return_document=ReturnDocument.AFTER,
            )
        finally:
            self.invalidate()

    async def get(self, recipient_id: str) -> Recipient | None:
        """One entry, from a copy of the whole directory (a hundred small documents, read in
        one query at most every CACHE_SECONDS). An id not in the copy is looked up in the
        store, so an entry added by another process is found at once."""
        now = self._monotonic()
        cache = self._cache
        if cache is None or now - self._cached_at >= self._cache_seconds:
            generation = self._generation
            docs = await self.collection.find(
                {}, {"email": 1, "name_th": 1, "name_en": 1, "digest": 1}
            ).to_list(None)
            cache = {d["_id"]: _recipient(d) for d in docs}
            if generation == self._generation:
                self._cache, self._cached_at = cache, now
        found = cache.get(recipient_id)
        if found is not None:
            return found
        doc = await self.collection.find_one({"_id": recipient_id})
        return None if doc is None else _recipient(doc)
