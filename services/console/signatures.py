"""`smartcity audit verify --signatures`: re-verify every claim and every fact the audit log
stored, with the registry's signing keys (revoked ones included).

A claim is judged at the time it was recorded, on the topic it was read from (a version 2
signature covers it); only the signature is judged: not the claim's age (the services judged
that when the broker took it) nor the deprecation of version 1.

A fact is judged as its consumers judge it (`contracts.signing.verify_fact`): signed by its
topic's owning service with a key current when the broker took it, or unsigned from before the
owner's first key (the cut-over). Facts recorded before the audit log kept their exact bytes
cannot be re-verified and are counted apart.

Pure: the caller feeds entries (as `/api/audit/entries` returns them) and the registry's keys."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smartcity_th.contracts.access import fact_topic_owners, service_principal
from smartcity_th.contracts.signing import (
    AUDIT_POLICY,
    SigningKey,
    Unauthenticated,
    UnsignedBeforeCutOver,
    verify,
    verify_fact,
)
from smartcity_th.contracts.topics import INTAKE

FACT_OWNERS = fact_topic_owners()


def signing_keys_from(rows: Iterable[Mapping[str, Any]]) -> dict[str, SigningKey]:
    """The registry's signing keys from `/api/registry/signing-keys` rows."""
    out = {}
    for r in rows:
        revoked = r.get("revoked_at")
        out[r["key_id"]] = SigningKey(
            r["key_id"],
            r["agency_id"],
            base64.b64decode(r["public_key"]),
            dt.datetime.fromisoformat(r["registered_at"]),
            dt.datetime.fromisoformat(revoked) if revoked else None,
        )
    return out


@dataclass
class SignatureAudit:
    agencies: set[str]
    keys: dict[str, SigningKey]
    verified: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    """Claims that do not verify, by reason."""
    facts: FactAudit = field(default_factory=lambda: FactAudit())
    failing: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Event id (or source) of each claim or fact that does not verify -> (seq, reason; a
    fact's reason starts with 'fact ')."""
    refused_at_intake: set[str] = field(default_factory=set)
    """Event ids and sources (topic:partition:offset) of the records that a service refused
    (dead-lettered: unsigned, unparseable, invalid, unauthorised; a record refused before
    parsing has no event id). A refused claim was never acted on."""
    sources: dict[str, str] = field(default_factory=dict)
    """Event id (or source) of each failing claim -> its source."""

    def feed(self, entries: Iterable[Mapping[str, Any]]) -> None:
        for entry in entries:
            try:
                body = json.loads(entry["body"])
            except (KeyError, TypeError, ValueError, RecursionError):
                continue  # not an entry the console wrote: nothing to verify in it
            letter = body.get("deadletter") or {}
            if letter:
                self.refused_at_intake.update(_refused_names(letter))
            if body.get("topic") in FACT_OWNERS and body.get("kind") == "event":
                self._check_fact(int(entry.get("seq", 0)), body)
            if body.get("topic") != INTAKE or body.get("kind") not in {"claim", "raw"}:
                continue
            self._check(int(entry.get("seq", 0)), body)

    def _check_fact(self, seq: int, body: Mapping[str, Any]) -> None:
        if body.get("value_b64") is None:
            self.facts.not_kept_whole += 1
            return
        value = _b64(body.get("value_b64"))
        key = body.get("key")
        topic = str(body["topic"])
        received = body.get("broker_at") or body["recorded_at"]
        verdict = verify_fact(
            value=value,
            key=None if key is None else key.encode("utf-8"),
            headers={k: str(v).encode("utf-8") for k, v in (body.get("headers") or {}).items()},
            topic=str(body.get("record_topic") or topic),
            owner=service_principal(FACT_OWNERS[topic]),
            agencies=self.agencies,
            keys=self.keys,
            received_at=dt.datetime.fromisoformat(received),
        )
        if isinstance(verdict, Unauthenticated):
            self.facts.refused[verdict.reason] += 1
            name = str(body.get("event_id") or body.get("source"))
            self.failing[name] = (seq, f"fact {verdict.reason}")
            self.sources[name] = str(body.get("source"))
        elif isinstance(verdict, UnsignedBeforeCutOver):
            self.facts.before_cut_over += 1
        else:
            self.facts.verified += 1

    def _check(self, seq: int, body: Mapping[str, Any]) -> None:
        value = _b64(body.get("value_b64"))
        key = body.get("key")
        headers = {k: str(v).encode("utf-8") for k, v in (body.get("headers") or {}).items()}
        producer = body.get("producer")
        if producer is None:
            try:
                raw = json.loads(value)
                producer = raw.get("producer") if isinstance(raw, dict) else None
            except (ValueError, RecursionError):  # a claim nested past any limit: unparseable
                producer = None
        verdict = verify(
            value=value,
            key=None if key is None else key.encode("utf-8"),
            headers=headers,
            topic=str(body.get("record_topic") or INTAKE),
            producer=producer if isinstance(producer, str) else None,
            agencies=self.agencies,
            keys=self.keys,
            at=dt.datetime.fromisoformat(body["recorded_at"]),
            policy=AUDIT_POLICY,
        )
        if isinstance(verdict, Unauthenticated):
            self.refused[verdict.reason] += 1
            name = str(body.get("event_id") or body.get("source"))
            self.failing[name] = (seq, verdict.reason)
            self.sources[name] = str(body.get("source"))
        else:
            self.verified += 1

    def unexplained(self) -> dict[str, tuple[int, str]]:
        """Claims and facts that do not verify now and that no service refused: acted on, but
        not provable now (forged, tampered with, or a key missing)."""
        refused = self.refused_at_intake
        return {
            k: v
            for k, v in self.failing.items()
            if k not in refused and self.sources.get(k) not in refused
        }


@dataclass
class FactAudit:
    verified: int = 0
    before_cut_over: int = 0
    """Unsigned facts the broker took before their owner's first key."""
    refused: Counter[str] = field(default_factory=Counter)
    """Facts that do not verify, by reason."""
    not_kept_whole: int = 0
    """Facts recorded before the audit log kept their exact bytes: not verifiable."""


def _b64(text: Any) -> bytes:
    try:
        return base64.b64decode(text or "", validate=True)
    except (binascii.Error, ValueError):
        return b""


def _refused_names(letter: Mapping[str, Any]) -> set[str]:
    """How an audit entry may name the record a dead letter refused: its event id, and its
    source as the audit log writes it (the topic without the deployment's namespace)."""
    names = {str(letter["event_id"])} if letter.get("event_id") else set()
    topic = str(letter.get("topic") or "")
    for bare in (INTAKE, *FACT_OWNERS):
        if topic == bare or topic.endswith("." + bare):
            names.add(f"{bare}:{letter.get('partition')}:{letter.get('offset')}")
    return names
