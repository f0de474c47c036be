"""The console's own rules, pure (no I/O): which dead letter may be replayed, and why the console
refuses a request, as the one refusal model (`contracts/refusal.py`). The entrypoints map each
refusal once: to the one HTTP error body by its kind (`services/common/errors.py`
`refusal_response`), or to a page with that status."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from smartcity_th.contracts.refusal import Refusal, RefusalKind, refusal
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.dead_letters import letter_headers
from smartcity_th.services.common.kafka import StoredRecord

SERVICE_CONSUMERS = frozenset({"proposals", "approvals", "notifications", "console"})
"""The consumers whose dead letters may be replayed (named as in dead-letter records)."""


def replay_refusal(letter: Mapping[str, Any], topics: Topics) -> Refusal | None:
    """Why a dead letter may not be replayed whatever Kafka holds: it names a topic that is not
    one of the project's (or the dead-letter topic), a consumer that is not one of the
    services, or it does not carry the original whole."""
    topic = letter.get("topic")
    if topic not in set(topics.all()) - {topics.deadletter}:
        return refusal(
            RefusalKind.CONFLICT,
            f"dead letter names topic {str(topic)[:100]!r}, not one of the project's topics",
            "ข้อความที่ถูกปฏิเสธระบุหัวข้อที่ไม่ใช่ของระบบ",
        )
    if letter.get("consumer") not in SERVICE_CONSUMERS:
        return refusal(
            RefusalKind.CONFLICT,
            f"dead letter was not written by one of the services "
            f"(consumer {str(letter.get('consumer'))[:100]!r})",
            "ข้อความที่ถูกปฏิเสธไม่ได้มาจากบริการของระบบ",
        )
    if letter.get("value_truncated"):
        return refusal(
            RefusalKind.CONFLICT,
            "the original was too large to keep whole; it cannot be replayed",
            "ข้อความเดิมมีขนาดใหญ่เกินกว่าจะเก็บไว้ทั้งหมด จึงส่งซ้ำไม่ได้",
        )
    return None


def record_to_replay(
    letter: Mapping[str, Any], original: StoredRecord | None
) -> StoredRecord | Refusal:
    """What replaying the dead letter sends: `original`, the record read back from Kafka where
    the letter points, when it is the one the letter carries (the same value, key and
    headers); else why not (None: nothing is there)."""
    value = base64.b64decode(letter["value_b64"])
    key = None if letter["key_b64"] is None else base64.b64decode(letter["key_b64"])
    if (
        original is None
        or (original.value or b"", original.key) != (value, key)
        or letter_headers(original.headers) != letter.get("headers")
    ):
        return refusal(
            RefusalKind.CONFLICT,
            "the original record is not at the topic, partition and offset the dead letter "
            "names (or differs from it: value, key or headers)",
            "ไม่พบข้อความเดิมตามตำแหน่งที่ระบุ หรือข้อความไม่ตรงกัน",
        )
    return original


def unknown_proposal(proposal_id: str) -> Refusal:
    """Nothing is recorded about `proposal_id`."""
    return refusal(
        RefusalKind.UNKNOWN_PROPOSAL, f"no proposal {proposal_id}", f"ไม่พบ proposal {proposal_id}"
    )


def no_console_access(agency_id: str) -> Refusal:
    return refusal(
        RefusalKind.UNAUTHORISED,
        f"{agency_id} has no access to the operators' console",
        f"{agency_id} ไม่มีสิทธิ์ใช้คอนโซลผู้ปฏิบัติงาน",
    )


def may_not_replay(agency_id: str) -> Refusal:
    return refusal(
        RefusalKind.UNAUTHORISED,
        f"{agency_id} may not replay dead letters (depa operators only)",
        f"{agency_id} ไม่มีสิทธิ์ส่งข้อความซ้ำ (เฉพาะผู้ปฏิบัติงาน depa)",
    )
