"""The notifications view of each proposal: what an email needs to say about it, kept from the
events (an aggregate per proposal in the store, each event applied by one commit that records
its id; the rules: `smartcity_th.services.notifications.view`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.services.common.documents import Doc
from smartcity_th.services.common.store import Aggregates, Commit, Decision, Loaded
from smartcity_th.services.notifications import view
from smartcity_th.services.notifications.view import Recorded


class ProposalsView:
    """What an email needs to say about a proposal, kept from the events: an aggregate per
    proposal in the store, each event applied by one commit that records its id."""

    def __init__(self, store: Aggregates) -> None:
        self.store = store

    async def record(
        self, envelope: AnyEnvelope, stage: str | None, *, needs_proposal: bool, now: dt.datetime
    ) -> Recorded:
        """Apply one event to the view (the rules:
        `smartcity_th.services.notifications.view.record`)."""

        def decide(loaded: Loaded | None) -> Decision[Recorded]:
            state = {} if loaded is None else dict(loaded.state)
            recorded = view.record(state, envelope, stage, needs_proposal=needs_proposal, now=now)
            result = replace(recorded, state={**recorded.state, "_id": envelope.proposal_id})
            if not recorded.changed:
                return None, result
            return Commit(state=recorded.state, processed=[str(envelope.event_id)]), result

        return await self.store.change(envelope.proposal_id, decide)

    async def release(self, proposal_id: str, held: view.Held, envelope: AnyEnvelope) -> None:
        """Mark a held event as told, and apply it to the view."""

        def decide(loaded: Loaded | None) -> Decision[None]:
            after = None if loaded is None else view.release(dict(loaded.state), held, envelope)
            return (None if after is None else Commit(state=after)), None

        await self.store.change(proposal_id, decide)

    async def get(self, proposal_id: str) -> Doc | None:
        state = await self.store.get(proposal_id)
        return None if state is None else {**state, "_id": proposal_id}
