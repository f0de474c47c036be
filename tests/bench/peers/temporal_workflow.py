"""The certification lifecycle as one Temporal workflow per proposal: what a team that picked
Temporal instead of the event backbone would write (tests/bench/peers/temporal.py runs it).

The workflow is the case: its state (the stage) and every decision live in Temporal's history,
in the server's SQLite file. The submission starts it; it stores the proposal and sends the
acknowledgement letter. Each decision (screening, the three committees, the award) is a
workflow update, checked against the same transition table the approvals service applies
(`contracts.workflow.transition`) and accepted once Temporal has recorded it: the answer the
agencies get over HTTP from the approvals service once a decision is committed. Every accepted
decision then sends its letter through an activity, in the order decided; the award's is the
last, and ends the workflow.

Deterministic, as Temporal requires: ids and times come from `workflow.uuid4()` and
`workflow.now()`; everything with I/O is an activity (by name: this module imports none of
them, so Temporal's sandbox re-imports only this file and the pure contracts).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from smartcity_th.contracts.approvals import MeetingRecorded
    from smartcity_th.contracts.common import Stage
    from smartcity_th.contracts.workflow import OPENING_EVENT, Moved, transition

NAME = "CertificationLifecycle"
LAST = "CertificationAwarded"
ACTIVITY_TIMEOUT = dt.timedelta(seconds=60)
# As the notifications service retries an email: exponential backoff (1 s, doubling, at most
# 5 minutes apart), without end: an email is never dropped.
LETTER_RETRY = RetryPolicy(
    initial_interval=dt.timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=dt.timedelta(minutes=5),
)


@dataclass
class Submission:
    proposal_id: str
    applicant: str
    draft: dict[str, Any]
    """The proposal as the applicant posts it to the proposals service (ProposalDraft)."""


@dataclass
class Decision:
    event_type: str
    agency: str
    """Who decides (as the API key names the agency in the backbone)."""
    body: dict[str, Any] = field(default_factory=dict)
    """A meeting's record (MeetingRecorded, as POST /meetings takes it), or the screening's or
    the award's request body."""


@dataclass
class Told:
    """One event of the case, as the letters need it (the envelope is built from this)."""

    event_type: str
    event_id: str
    occurred_at: str
    agency: str
    body: dict[str, Any]


@dataclass
class Letter:
    """What the letter activity needs: the proposal and the case's events so far (the last is
    the one the letter is about)."""

    proposal_id: str
    applicant: str
    draft: dict[str, Any]
    events: list[Told]


@dataclass
class Outcome:
    proposal_id: str
    stage: str
    message_ids: list[str]


@workflow.defn(name=NAME)
class CertificationLifecycle:
    @workflow.init
    def __init__(self, s: Submission) -> None:
        # Submitted from the start: a decision may arrive with the workflow's first task,
        # before `run` has begun (its update is validated against this state).
        opened = transition(None, OPENING_EVENT, s.proposal_id)
        assert isinstance(opened, Moved)
        self._stage: Stage = opened.to_stage
        self._told: list[Told] = []
        self._decided: deque[Told] = deque()

    def _told_now(self, event_type: str, agency: str, body: dict[str, Any]) -> Told:
        return Told(
            event_type, str(workflow.uuid4()), workflow.now().isoformat(), agency, dict(body)
        )

    async def _letter(self, s: Submission, told: Told) -> str:
        self._told.append(told)
        message_id: str = await workflow.execute_activity(
            "send_letter",
            Letter(s.proposal_id, s.applicant, s.draft, list(self._told)),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=LETTER_RETRY,
        )
        return message_id

    @workflow.run
    async def run(self, s: Submission) -> Outcome:
        await workflow.execute_activity(
            "store_proposal", s, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        sent = [await self._letter(s, self._told_now(OPENING_EVENT, s.applicant, {}))]
        while True:
            await workflow.wait_condition(lambda: bool(self._decided))
            told = self._decided.popleft()
            sent.append(await self._letter(s, told))
            if told.event_type == LAST:
                return Outcome(s.proposal_id, self._stage.value, sent)

    @workflow.update
    async def decide(self, d: Decision) -> str:
        """Record one decision; returns its event id. The award's certificate number is
        allocated first (an activity), as the approvals service allocates it before the
        award is committed."""
        body = dict(d.body)
        if d.event_type == LAST:
            body["certificate_number"] = await workflow.execute_activity(
                "certificate_number",
                be_year(workflow.now()),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
        moved = transition(self._stage, d.event_type, workflow.info().workflow_id)
        assert isinstance(moved, Moved)  # the validator refused anything else
        self._stage = moved.to_stage
        told = self._told_now(d.event_type, d.agency, body)
        self._decided.append(told)
        return told.event_id

    @decide.validator
    def _check(self, d: Decision) -> None:
        """Refused before anything is recorded: a meeting record that does not parse, or a
        decision the workflow does not allow at the case's stage (the reason the approvals
        service would give)."""
        if "decisions" in d.body:
            meeting = MeetingRecorded.model_validate(d.body)
            if [x.decision for x in meeting.decisions] != [d.event_type]:
                raise ApplicationError(f"the meeting's decision is not {d.event_type}")
        moved = transition(self._stage, d.event_type, workflow.info().workflow_id)
        if not isinstance(moved, Moved):
            raise ApplicationError(moved.reason.en, non_retryable=True)

    @workflow.query
    def stage(self) -> str:
        return self._stage.value


def be_year(now: dt.datetime) -> int:
    """The Buddhist-era year a certificate is numbered in."""
    return now.year + 543
