"""`smartcity audit verify --signatures`: re-verify every claim the audit log stored, with the
registry's signing keys (revoked ones included: a claim is judged at the time it was recorded).
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

from contracts.signing import SigningKey, Unauthenticated, verify
from contracts.topics import INTAKE


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
    """Event ids that a service dead-lettered as unauthenticated."""

    def feed(self, entries: Iterable[Mapping[str, Any]]) -> None:
        for entry in entries:
            try:
                body = json.loads(entry["body"])
            except (KeyError, TypeError, ValueError):
                continue
            letter = body.get("deadletter") or {}
            if letter.get("error_kind") == "unauthenticated" and letter.get("event_id"):
                self.refused_at_intake.add(letter["event_id"])
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
            except ValueError:
                producer = None
        verdict = verify(
            value=value,
            key=None if key is None else key.encode("utf-8"),
            headers=headers,
            producer=producer if isinstance(producer, str) else None,
            agencies=self.agencies,
            keys=self.keys,
            at=dt.datetime.fromisoformat(body["recorded_at"]),
        )
        if isinstance(verdict, Unauthenticated):
            self.refused[verdict.reason] += 1
            self.failing[str(body.get("event_id") or body.get("source"))] = (seq, verdict.reason)
        else:
            self.verified += 1

    def unexplained(self) -> dict[str, tuple[int, str]]:
        """Claims that do not verify now and that no service refused as unauthenticated:
        accepted then, but not provable now (tampered with, or a key missing)."""
        return {k: v for k, v in self.failing.items() if k not in self.refused_at_intake}
