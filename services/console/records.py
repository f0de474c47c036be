"""What the console stores about one Kafka record: pure derivation, no I/O.

Events are stored parsed. Claims on the intake topic are kind "claim": what an agency system
asked for, with no stage, since only the owning service turns a claim into a fact. Records that
are not valid events (for example a malformed claim on the intake topic) are stored raw with the
reason. Dead-letter records are stored with the original message they carry.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from smartcity_th.contracts.catalogue import is_fact_producer
from smartcity_th.contracts.common import is_proposal_id
from smartcity_th.contracts.deadletter import DeadLetter
from smartcity_th.contracts.envelope import AnyEnvelope, EnvelopeError, parse_record
from smartcity_th.contracts.proposals import ProposalResubmitted, ProposalSubmitted
from smartcity_th.contracts.topics import DEADLETTER, INTAKE, Topics
from smartcity_th.contracts.workflow import stage_after
from smartcity_th.services.common.record import Record


def proposal_of_key(key: bytes | None) -> str | None:
    if key is None:
        return None
    text = key.decode("utf-8", errors="replace")
    return text if is_proposal_id(text) else None


def _summary(env: AnyEnvelope) -> str:
    p = env.payload
    match env.event_type:
        case "ProposalSubmitted" | "ProposalResubmitted":
            c = p.content
            where = f"{c.province.name_th} {c.province.name_en}"
            return f"{c.area_name.th} / {c.area_name.en} ({where})"
        case "CertificationAwarded":
            return f"{p.certificate_number}: {p.area_name.th} / {p.area_name.en}"
        case "NotificationSent":
            return f"email to {p.recipient_email} about {p.about_event_type}"
        case "NotificationFailed":
            return f"email to {p.recipient_email or p.recipient_id} FAILED: {p.error}"
        case "NotificationHeld":
            return f"letter to {p.recipient_email} HELD for review: {'; '.join(p.problems)}"
        case "TransitionRefused" | "IntakeRejected":
            why = f"{p.reason.en} / {p.reason.th}"
            return f"refused {p.refused_event_type} from {p.producer}: {why}"
        case _:
            reasons = getattr(p, "reasons", None)
            return f"{reasons.en} / {reasons.th}" if reasons is not None else env.event_type


def describe(
    record: Record, topics: Topics, previous: Mapping[str, Any] | None, now: dt.datetime
) -> dict[str, Any]:
    """The content of the audit entry for `record`; `previous` is the last stored entry about
    the same proposal (province and applicant carry forward from it)."""
    topic = topics.bare(record.topic)
    content: dict[str, Any] = {
        "topic": topic,
        "partition": record.partition,
        "offset": record.offset,
        "source": f"{topic}:{record.partition}:{record.offset}",
        "key": None if record.key is None else record.key.decode("utf-8", errors="replace"),
        "headers": {k: v.decode("utf-8", errors="replace") for k, v in record.headers},
        "recorded_at": now.isoformat(),
        "event_id": None,
        "event_type": None,
        "producer": None,
        "occurred_at": None,
        "stage": None,
        "dead_letter_id": None,
        "error": None,
        "province_code": (previous or {}).get("province_code"),
        "agency": (previous or {}).get("agency"),
    }
    if topic == DEADLETTER:
        return _dead_letter(record, content)
    try:
        env = parse_record(record.value, record.headers)
    except EnvelopeError as exc:
        content.update(
            kind="raw",
            error=str(exc),
            event_type=exc.event_type,
            event_id=exc.event_id,
            summary=f"not a valid event: {exc}",
            value_b64=base64.b64encode(record.value or b"").decode(),
        )
        return content
    claim = topic == INTAKE
    stage = None if claim else stage_after(env.event_type)
    content.update(
        kind="claim" if claim else "event",
        event_id=str(env.event_id),
        event_type=env.event_type,
        producer=env.producer,
        occurred_at=env.occurred_at.isoformat(),
        stage=stage.value if stage else None,
        summary=("claim (not yet accepted): " if claim else "") + _summary(env),
        envelope=json.loads(env.model_dump_json()),
    )
    payload = env.payload
    # A claim's and a fact's exact bytes and topic, so that its signature can be verified again
    # later (a fact with the time the broker took it, which its signing key is judged at).
    content["value_b64"] = base64.b64encode(record.value or b"").decode()
    content["record_topic"] = record.topic
    if claim:
        return content
    if record.broker_time is not None:
        content["broker_at"] = record.broker_time.isoformat()
    if isinstance(payload, ProposalSubmitted | ProposalResubmitted):  # they carry the content
        content["province_code"] = payload.content.province.code
        content["agency"] = getattr(payload, "applicant", None) or content["agency"]
    elif env.event_type == "CertificationAwarded":
        content["province_code"] = payload.province_code
    if content["agency"] is None and not is_fact_producer(env.producer):
        content["agency"] = env.producer
    return content


def _dead_letter(record: Record, content: dict[str, Any]) -> dict[str, Any]:
    try:
        letter = DeadLetter.model_validate_json(record.value or b"")
    except ValueError as exc:
        content.update(
            kind="raw",
            error=f"unreadable dead-letter record: {exc}"[:2000],
            summary="unreadable dead-letter record",
            value_b64=base64.b64encode(record.value or b"").decode(),
        )
        return content
    content.update(
        kind="deadletter",
        dead_letter_id=letter.dead_letter_id,
        event_type=letter.event_type,
        event_id=letter.event_id,
        error=letter.error,
        producer=letter.headers.get("smartcity-producer"),
        occurred_at=letter.dead_lettered_at.isoformat(),
        summary=f"{letter.consumer} refused ({letter.error_kind}): {letter.error}"[:500],
        deadletter=json.loads(letter.model_dump_json()),
    )
    return content


def replay_content(
    letter: Mapping[str, Any],
    *,
    replay_id: str,
    who: str,
    at: dt.datetime,
    previous: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The audit entry recording that an operator replayed a dead letter."""
    return {
        "kind": "replay",
        "topic": None,
        "partition": None,
        "offset": None,
        "source": f"replay:{replay_id}",
        "event_id": letter.get("event_id"),
        "event_type": letter.get("event_type"),
        "producer": who,
        "occurred_at": at.isoformat(),
        "recorded_at": at.isoformat(),
        "stage": None,
        "dead_letter_id": letter["dead_letter_id"],
        "error": None,
        "province_code": (previous or {}).get("province_code"),
        "agency": (previous or {}).get("agency"),
        "summary": f"replayed by {who} to {letter['topic']} (dead letter "
        f"{letter['dead_letter_id']})",
        "replayed_by": who,
        "replayed_to": letter["topic"],
    }
