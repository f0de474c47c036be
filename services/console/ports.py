"""What the console's handlers and entrypoints need of the audit log (`AuditLog`). The MongoDB
adapter is `audit.py`'s `MongoAuditLog`; the unit tests' in-memory twin
(`tests/unit/fakes/audit.py`) keeps the same contract (`tests/audit_contract.py`, run against
both)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from smartcity_th.services.common.documents import Doc
from smartcity_th.services.console.paging import Cursor, Window
from smartcity_th.services.console.views import Listing


class AuditLog(Protocol):
    """The hash-chained log of every record the console consumed (services/console/chain.py):
    each entry is at the end of the whole log's chain (`seq`, `prev_hash`) and of its
    proposal's (`proposal_seq`, `proposal_prev_hash`), stored once per `source`; plus the
    operators' replays of dead letters."""

    def next_append(self) -> asyncio.Event:
        """Set by the next append of this process (take it before reading, then wait on it)."""
        ...

    @staticmethod
    async def wait_for(appended: asyncio.Event, timeout: float) -> bool:
        """Whether `appended` was set within `timeout` seconds."""
        ...

    async def head(self) -> Doc:
        """The chain's head: the last entry's `seq` and `hash` (0 and GENESIS when empty)."""
        ...

    async def context(self, proposal_id: str | None) -> Doc | None:
        """The last entry about `proposal_id` (this process's last append about it, or the last
        one stored): its `seq`, `proposal_seq`, `hash` and the fields that carry forward
        (`province_code`, `agency`)."""
        ...

    async def append(self, proposal_id: str | None, content: Mapping[str, Any]) -> Doc | None:
        """Store `content` (which names its `source`) sealed at the end of both chains; None,
        and nothing stored, if an entry of the same source is stored already. Appends of several
        processes never fork the chain."""
        ...

    async def record_replay(self, replay: Doc) -> None:
        """Keep an operator's replay of a dead letter (`_id`, `dead_letter_id`, `at`, ...)."""
        ...

    async def page(
        self,
        query: Mapping[str, Any],
        *,
        after_seq: int = 0,
        before_seq: int | None = None,
        limit: int = 200,
        newest_first: bool = False,
    ) -> list[Doc]:
        """Up to `limit` entries matching `query` (equality, `$in`, ranges) with
        `after_seq < seq < before_seq`, in sequence order (newest first if asked)."""
        ...

    async def window(self, listing: Listing, cursor: Cursor, limit: int) -> Window:
        """One page of a newest-first list at `cursor`, and where its neighbours start
        (services/console/paging.py)."""
        ...

    async def dead_letter(self, dead_letter_id: str) -> Doc | None:
        """The entry of the dead letter with this id (the first, if several carry it)."""
        ...

    async def replays_of(self, dead_letter_ids: list[str]) -> dict[str, list[Doc]]:
        """The replays of each of these dead letters, oldest first."""
        ...
