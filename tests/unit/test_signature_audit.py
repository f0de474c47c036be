"""`audit verify --signatures` over stored entries: what counts as unexplained."""

from __future__ import annotations

import base64
import json
from typing import Any

from smartcity_th.contracts.topics import INTAKE
from smartcity_th.services.console.signatures import SignatureAudit


def claim_entry(seq: int, offset: int, event_id: str | None) -> dict[str, Any]:
    body = {
        "topic": INTAKE,
        "kind": "raw",
        "partition": 2,
        "offset": offset,
        "source": f"{INTAKE}:2:{offset}",
        "key": "SC-x",
        "headers": {},
        "value_b64": base64.b64encode(b"{not signed").decode(),
        "recorded_at": "2026-11-30T00:00:00+00:00",
        "event_id": event_id,
        "producer": "lg-phuket-city",
    }
    return {"seq": seq, "body": json.dumps(body)}


def refusal_entry(
    seq: int, offset: int, event_id: str | None, kind: str = "unauthenticated"
) -> dict[str, Any]:
    letter = {
        "error_kind": kind,
        "topic": f"test-1234.{INTAKE}",
        "partition": 2,
        "offset": offset,
        "event_id": event_id,
    }
    return {"seq": seq, "body": json.dumps({"kind": "deadletter", "deadletter": letter})}


def test_an_unsigned_claim_refused_at_intake_is_explained_by_event_id_or_by_source() -> None:
    audit = SignatureAudit(agencies={"lg-phuket-city"}, keys={})
    audit.feed(
        [
            claim_entry(1, 10, "0b6e3b0e-8f0e-4b7e-9c55-1c0e4a0e6f01"),
            claim_entry(2, 11, None),  # refused before parsing: the letter has no event id
            claim_entry(3, 12, None),  # accepted, not provable now: unexplained
            claim_entry(4, 13, None),  # unparseable: refused at parsing, never acted on
            refusal_entry(5, 10, "0b6e3b0e-8f0e-4b7e-9c55-1c0e4a0e6f01"),
            refusal_entry(6, 11, None),
            refusal_entry(7, 13, None, kind="parse"),
        ]
    )
    assert audit.verified == 0
    assert len(audit.failing) == 4
    assert audit.unexplained() == {f"{INTAKE}:2:12": (3, audit.failing[f"{INTAKE}:2:12"][1])}
