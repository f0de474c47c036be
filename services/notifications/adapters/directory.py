"""The recipients directory (this service's own database): who gets email at which address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.errors import BulkWriteError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from contracts.agencies import agencies
from contracts.reference import provinces
from services.notifications.routing import governor_office_id

Doc = dict[str, Any]

SEED_ADDRESSES = {
    "depa": "smartcity-office@depa.example.go.th",
    "des-subcommittee": "smartcity-subcommittee@mdes.example.go.th",
    "steering-committee": "smartcity-steering@opm.example.go.th",
    "cabinet-secretariat": "cabinet-affairs@soc.example.go.th",
}


@dataclass(frozen=True)
class Recipient:
    recipient_id: str
    email: str
    name_th: str
    name_en: str
    digest: bool = False


def seed_documents() -> list[Doc]:
    """Every agency of the directory and every governor's office, with clearly fake addresses."""
    docs: list[Doc] = []
    for a in agencies().values():
        if a.kind.value == "system":
            continue
        email = SEED_ADDRESSES.get(a.agency_id, f"{a.agency_id}@smartcity.example.go.th")
        docs.append({"_id": a.agency_id, "email": email, "name_th": a.name_th,
                     "name_en": a.name_en, "digest": False})
    for p in provinces():
        docs.append({"_id": governor_office_id(p.code),
                     "email": f"governor-{p.code}@provinces.example.go.th",
                     "name_th": f"สำนักงานจังหวัด{p.name_th}" if p.code != "10"
                     else "ศาลาว่าการกรุงเทพมหานคร",
                     "name_en": f"{p.name_en} Provincial Governor's Office" if p.code != "10"
                     else "Bangkok Metropolitan Administration City Hall",
                     "digest": False})
    return docs


class RecipientsDirectory:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db["recipients"]

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

    async def get(self, recipient_id: str) -> Recipient | None:
        doc = await self.collection.find_one({"_id": recipient_id})
        if doc is None:
            return None
        return Recipient(doc["_id"], doc["email"], doc["name_th"], doc["name_en"],
                         bool(doc.get("digest", False)))
