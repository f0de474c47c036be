"""`audit verify --signatures` over stored entries: what counts as unexplained."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from smartcity_th.contracts.approvals import RevisionRequested
from smartcity_th.contracts.common import BilingualText
from smartcity_th.contracts.envelope import new_envelope
from smartcity_th.contracts.signing import SigningKey, raw_public_key, sign
from smartcity_th.contracts.topics import DECISIONS, HEADER_EMITTED_BY, INTAKE
from smartcity_th.kit import ClaimSigner
from smartcity_th.services.console.signatures import SignatureAudit
from tests.support import signer_for


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


# ---- facts: signed by their topic's owning service ----

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
APPROVALS = signer_for("svc-approvals")
CONSOLE = signer_for("svc-console")
DECISIONS_NS = f"test-1234.{DECISIONS}"


def registry_keys(registered: dt.datetime = T0) -> dict[str, SigningKey]:
    return {
        s.key_id: SigningKey(s.key_id, s.agency_id, raw_public_key(s.private_key), registered)
        for s in (APPROVALS, CONSOLE)
    }


def fact_entry(
    seq: int,
    offset: int,
    *,
    by: ClaimSigner | None = APPROVALS,
    tamper: bool = False,
    kept_whole: bool = True,
    broker_at: dt.datetime = T0 + dt.timedelta(days=1),
) -> dict[str, Any]:
    """A decision fact as the console's audit log records it (`records.describe`)."""
    env = new_envelope(
        RevisionRequested(
            requested_by="depa",
            reasons=BilingualText(th="โปรดเพิ่มแผนการเงิน", en="Please add a financing plan"),
        ),
        producer="depa",
        proposal_id="SC-9",
    )
    value = env.to_bytes()
    headers = env.headers() | {HEADER_EMITTED_BY: "svc-approvals"}
    if by is not None:
        headers |= sign(
            by.private_key,
            by.key_id,
            value,
            env.key,
            env.event_type,
            topic=DECISIONS_NS,
            signed_at=broker_at,
        )
    if tamper:
        value = value.replace(b"depa", b"dexa")
    body: dict[str, Any] = {
        "topic": DECISIONS,
        "kind": "event",
        "partition": 1,
        "offset": offset,
        "source": f"{DECISIONS}:1:{offset}",
        "key": "SC-9",
        "headers": headers,
        "recorded_at": (broker_at + dt.timedelta(seconds=1)).isoformat(),
        "broker_at": broker_at.isoformat(),
        "event_id": str(env.event_id),
        "producer": "depa",
    }
    if kept_whole:
        body |= {"value_b64": base64.b64encode(value).decode(), "record_topic": DECISIONS_NS}
    return {"seq": seq, "body": json.dumps(body)}


def test_facts_are_verified_against_their_owners_key_and_a_tampered_one_is_flagged() -> None:
    audit = SignatureAudit(agencies={"svc-approvals", "svc-console"}, keys=registry_keys())
    tampered = fact_entry(3, 22, tamper=True)
    forged = fact_entry(4, 23, by=CONSOLE)
    audit.feed(
        [
            fact_entry(1, 20),
            fact_entry(2, 21, by=None, broker_at=T0 - dt.timedelta(days=1)),  # before cut-over
            tampered,
            forged,
            fact_entry(5, 24, by=None),  # unsigned after the cut-over
            fact_entry(6, 25, kept_whole=False),  # recorded before the log kept facts whole
        ]
    )
    assert audit.verified == 0  # no claims
    assert audit.facts.verified == 1
    assert audit.facts.before_cut_over == 1
    assert audit.facts.not_kept_whole == 1
    assert audit.facts.refused == {"bad_signature": 1, "wrong_agency": 1, "unsigned": 1}
    flagged = audit.unexplained()
    assert flagged[json.loads(tampered["body"])["event_id"]] == (3, "fact bad_signature")
    assert flagged[json.loads(forged["body"])["event_id"]] == (4, "fact wrong_agency")
    assert len(flagged) == 3


def test_a_forged_fact_its_consumers_dead_lettered_is_explained() -> None:
    audit = SignatureAudit(agencies={"svc-approvals", "svc-console"}, keys=registry_keys())
    forged = fact_entry(1, 30, by=CONSOLE)
    event_id = json.loads(forged["body"])["event_id"]
    letter = {
        "error_kind": "unverified_fact",
        "topic": DECISIONS_NS,
        "partition": 1,
        "offset": 30,
        "event_id": event_id,
    }
    audit.feed(
        [forged, {"seq": 2, "body": json.dumps({"kind": "deadletter", "deadletter": letter})}]
    )
    assert audit.facts.refused == {"wrong_agency": 1}
    assert audit.unexplained() == {}
