"""The proposals as this service knows them, built from events: pure rules, no I/O.

Notifications reads the proposals topic and the decisions topic with one consumer, and Kafka
keeps order only within a partition: a decision (say ProposalScreened) can be read before the
ProposalSubmitted that made its proposal known, e.g. while catching up on a backlog. A letter
about a proposal that is not known yet would name no area and reach no applicant. Such an event
is held in the view instead, and told (in the order it arrived) as soon as the submission is
read. Likewise a fact read before the fact it follows in the workflow (a resubmission read
before the revision request it answers: they travel on different topics) waits until that one is
read, so that letters go out in the order things happened (`follows`). One held longer than
HOLD_DEADLINE is told anyway, with what is known, when the next event about that proposal
arrives: its submission is not in the log (older than the topic's retention, or a damaged log).

Since schema version 2 the applicant's contact addresses travel apart from the facts (personal
data, on smartcity.contacts, which no agency reads): a letter waits likewise until the contacts
of its proposal's version are read (`ready`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from smartcity_th.contracts.approvals import decided_on
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import Stage
from smartcity_th.contracts.envelope import AnyEnvelope, parse_record
from smartcity_th.contracts.workflow import Moved, transition
from smartcity_th.services.common.documents import Doc

HOLD_DEADLINE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Held:
    """An event that waits for its proposal to be known, with the stage it leads to."""

    event_id: str
    event_value: str
    stage: str | None
    held_at: dt.datetime

    def as_doc(self) -> Doc:
        return {
            "event_id": self.event_id,
            "event_value": self.event_value,
            "stage": self.stage,
            "held_at": self.held_at,
        }


@dataclass(frozen=True)
class Recorded:
    """What one event did to the view."""

    state: Doc
    """The proposal as known after the event (without this event, if it is held)."""
    changed: bool
    """The event was new to the view: the state must be committed."""
    held: bool = False
    """The event waits for its proposal: tell nobody yet."""
    released: list[Held] = field(default_factory=list)
    """Events held earlier that can be told now, in the order they arrived."""


@dataclass(frozen=True)
class Telling:
    """A held event released to be told now, with the proposal as known at that point."""

    held: Held
    envelope: AnyEnvelope
    state: Doc
    """The view with this event and every one released before it applied."""

    @property
    def known(self) -> bool:
        return is_known(self.state)


def tellings(recorded: Recorded) -> list[Telling]:
    """The events `recorded` released, in order, each with the proposal as known once it (and
    those before it) are applied."""
    state, out = recorded.state, []
    for held in recorded.released:
        envelope = parse_record(held.event_value.encode("utf-8"))
        state = applied(state, envelope, held.stage)
        out.append(Telling(held, envelope, state))
    return out


def is_known(state: Doc) -> bool:
    return "area_name" in state


CONTENT_EVENTS = frozenset(
    name for name, spec in EVENTS.items() if "content" in spec.payload.model_fields
)
"""The submissions: the facts that carry a version of the plan."""


def _revision(event_type: str, payload: Any) -> int:
    """The version of the proposal a submission fact carries (0: not a submission)."""
    if event_type not in CONTENT_EVENTS:
        return 0
    return int(getattr(payload, "revision", 1))


def described(state: Doc) -> Doc:
    """The proposal as a letter that needs no contact address may name it: the state, or, while
    its submission waits for the applicant's contacts, the area, province and applicant that
    submission carries (a refusal read meanwhile still names the area it is about)."""
    if is_known(state):
        return state
    for held in waiting(state):
        doc = json.loads(held.event_value)
        content = doc.get("payload", {}).get("content")
        if doc.get("event_type") in CONTENT_EVENTS and isinstance(content, dict):
            return {
                **state,
                "applicant": doc["payload"].get("applicant"),
                "area_name": content.get("area_name"),
                "province": content.get("province"),
            }
    return state


def has_contacts(state: Doc, revision: int = 1) -> bool:
    """Whether the applicant's contact addresses of version `revision` (or later) are known:
    they travel apart from the facts since schema version 2 (ProposalContactsRecorded, on a topic
    only the services read), and are published just before the fact of their version."""
    return int(state.get("contacts_revision", 0)) >= max(revision, 1)


def ready(state: Doc, revision: int = 1) -> bool:
    """Known well enough to write a letter: the proposal and its applicant's contacts."""
    return is_known(state) and has_contacts(state, revision)


def history_entry(envelope: AnyEnvelope, stage: str | None) -> Doc:
    """One line of a proposal's public history: what happened, when it was decided (the
    meeting's or resolution's date, when there is one), by which meeting, and where it led."""
    payload = envelope.payload
    decided = decided_on(payload)
    entry: Doc = {
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
        "recorded_at": envelope.occurred_at,
        "decided_on": decided.isoformat() if decided else None,
        "stage": stage,
    }
    meeting = getattr(payload, "meeting", None)
    if meeting is not None:
        entry["meeting"] = meeting.model_dump(mode="json")
    for name in ("resolution_number", "certificate_number", "subcommittee_meeting_id"):
        value = getattr(payload, name, None)
        if value is not None:
            entry[name] = value
    return entry


def applied(state: Doc, envelope: AnyEnvelope, stage: str | None) -> Doc:
    """The view after one event: its facts, its line of history and the stage it leads to."""
    after = dict(state)
    payload = envelope.payload
    content = getattr(payload, "content", None)
    if content is not None:
        after.update(
            {
                "applicant": payload.applicant,
                "area_name": content.area_name.model_dump(),
                "province": content.province.model_dump(),
            }
        )
    contacts = getattr(payload, "contact_emails", None)
    if contacts:  # ProposalContactsRecorded, or a fact of schema version 1 (read upgraded)
        revision = int(getattr(payload, "revision", 1))
        if revision >= int(after.get("contacts_revision", 0)):
            after["contact_emails"] = list(contacts)
            after["contacts_revision"] = revision
    if stage is not None:
        after["history"] = [*after.get("history", []), history_entry(envelope, stage)]
        after["stage"] = stage
    return after


def waiting(state: Doc) -> list[Held]:
    """The events that wait for this proposal to be known, in the order they arrived."""
    return [Held(**h) for h in state.get("held", [])]


def follows(stage: str | None, event_type: str, moves_to: str | None) -> bool:
    """Whether a fact can come next for a proposal at `stage`: one that moves no stage always
    can; one the workflow does not allow from `stage` was read before the fact it follows."""
    if moves_to is None:
        return True
    return isinstance(transition(Stage(stage) if stage else None, event_type, ""), Moved)


def releasable(state: Doc, held: list[Held]) -> list[Held]:
    """The waiting events that can be told now, in the order they can happen: none while the
    applicant's contacts are unknown; a submission once the contacts of its version are known
    (it makes the proposal known); then each that follows the stage the ones before it lead
    to."""
    known, stage, pending = is_known(state), state.get("stage"), list(held)
    out: list[Held] = []
    while True:
        nxt = next((h for h in pending if _can_follow(state, known, stage, h)), None)
        if nxt is None:
            return out
        out.append(nxt)
        pending.remove(nxt)
        stage = nxt.stage or stage
        known = known or _event_type(nxt) in CONTENT_EVENTS


def _can_follow(state: Doc, known: bool, stage: str | None, held: Held) -> bool:
    event_type = _event_type(held)
    if event_type in CONTENT_EVENTS:
        revision = int(json.loads(held.event_value).get("payload", {}).get("revision", 1))
        ready_now = has_contacts(state, revision)
    else:
        ready_now = known and has_contacts(state)
    return ready_now and follows(stage, event_type, held.stage)


def _event_type(held: Held) -> str:
    return str(json.loads(held.event_value).get("event_type", ""))


def record(
    state: Doc,
    envelope: AnyEnvelope,
    stage: str | None,
    *,
    needs_proposal: bool,
    now: dt.datetime,
) -> Recorded:
    """Apply one event to a proposal's view (`state`, empty when the proposal is new).

    An event seen before changes nothing (a redelivered old event must not move the stage
    back) but still releases what waits, should a crash have come between the commit of the
    submission and the telling of the events it released. An event whose letter needs the
    proposal (`needs_proposal`) waits while the proposal is unknown, unless the oldest waiting
    event has waited HOLD_DEADLINE: then all are told with what is known."""
    event_id = str(envelope.event_id)
    held = waiting(state)
    if event_id in state.get("seen", []):
        return Recorded(
            state,
            changed=False,
            held=any(h.event_id == event_id for h in held),
            released=releasable(state, held),
        )
    seen = {**state, "seen": [*state.get("seen", []), event_id]}
    overdue = bool(held) and now - _aware(held[0].held_at) >= HOLD_DEADLINE
    early = is_known(state) and not follows(state.get("stage"), envelope.event_type, stage)
    if early and not overdue:
        hold = Held(event_id, envelope.model_dump_json(), stage, now)
        seen["held"] = [h.as_doc() for h in held] + [hold.as_doc()]
        return Recorded(seen, changed=True, held=True)
    after = applied(seen, envelope, stage)
    if overdue:
        return Recorded(after, changed=True, released=held)  # told with what is known
    if ready(after, _revision(envelope.event_type, envelope.payload)) or not needs_proposal:
        return Recorded(after, changed=True, released=releasable(after, held))
    hold = Held(event_id, envelope.model_dump_json(), stage, now)
    seen["held"] = [h.as_doc() for h in held] + [hold.as_doc()]
    return Recorded(seen, changed=True, held=True)


def release(state: Doc, held: Held, envelope: AnyEnvelope) -> Doc | None:
    """The view once a held event (`envelope`) has been told: applied, and waiting no more;
    None if it was not waiting (another instance told it first)."""
    rest = [h for h in waiting(state) if h.event_id != held.event_id]
    if len(rest) == len(state.get("held", [])):
        return None
    after = {k: v for k, v in state.items() if k != "held"}
    if rest:
        after["held"] = [h.as_doc() for h in rest]
    return applied(after, envelope, held.stage)


def _aware(value: dt.datetime) -> dt.datetime:
    """The store hands back naive UTC datetimes."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
