"""`smartcity audit verify --signatures`: re-verify every claim the audit log stored, with the
registry's signing keys (revoked ones included: a claim is judged at the time it was recorded),
on the topic it was read from (a version 2 signature covers it). Only the signature is judged:
not the claim's age (the services judged that when the broker took it) nor the deprecation of
version 1.
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

from smartcity_th.contracts.signing import AUDIT_POLICY, SigningKey, Unauthenticated, verify
from smartcity_th.contracts.topics import INTAKE


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
    failing: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Event id (or source) of each claim that does not verify -> (seq, reason)."""
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
            if body.get("topic") != INTAKE or body.get("kind") not in {"claim", "raw"}:
                continue
            self._check(int(entry.get("seq", 0)), body)

    def _check(self, seq: int, body: Mapping[str, Any]) -> None:
        try:
            value = base64.b64decode(body.get("value_b64") or "", validate=True)
        except (binascii.Error, ValueError):
            value = b""
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
        """Claims that do not verify now and that no service refused: accepted then, but not
        provable now (tampered with, or a key missing)."""
        refused = self.refused_at_intake
        return {
            k: v
            for k, v in self.failing.items()
            if k not in refused and self.sources.get(k) not in refused
        }


def _refused_names(letter: Mapping[str, Any]) -> set[str]:
    """How an audit entry may name the record a dead letter refused: its event id, and its
    source as the audit log writes it (the topic without the deployment's namespace)."""
    names = {str(letter["event_id"])} if letter.get("event_id") else set()
    topic = str(letter.get("topic") or "")
    if topic == INTAKE or topic.endswith("." + INTAKE):
        names.add(f"{INTAKE}:{letter.get('partition')}:{letter.get('offset')}")
    return names
