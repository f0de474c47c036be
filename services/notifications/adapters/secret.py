"""Keys this service makes for itself and keeps in its database (the status links' secret)."""

from __future__ import annotations

import contextlib

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from smartcity_th.services.common.documents import Doc
from smartcity_th.services.notifications.links import new_secret


async def load_or_create_secret(db: AsyncDatabase[Doc], name: str) -> str:
    """A random key kept in this service's database under `name`: made by whichever instance
    starts first (an insert of a fixed `_id` is atomic), read by every other."""
    secrets_ = db["secrets"]
    with contextlib.suppress(DuplicateKeyError):
        await secrets_.insert_one({"_id": name, "value": new_secret()})
    doc = await secrets_.find_one({"_id": name})
    if doc is None:  # pragma: no cover - the insert above or another instance's made it
        raise RuntimeError(f"secret {name!r} could not be stored")
    return str(doc["value"])
