"""The tamper-evident audit chain: pure functions, no I/O.

Every stored entry has a `body` (canonical JSON of what was received and derived), its global
sequence number, the hash of the entry before it in the whole log (`prev_hash`) and the hash of
the entry before it about the same proposal (`proposal_prev_hash`). Its own `hash` is SHA-256 over
the canonical JSON of exactly those fields, so changing any stored byte, deleting an entry or
reordering entries breaks a link that `verify` names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = ("seq", "prev_hash", "proposal_id", "proposal_seq", "proposal_prev_hash", "body")
INDEXED_FIELDS = (
    "kind",
    "topic",
    "partition",
    "offset",
    "source",
    "event_id",
    "event_type",
    "producer",
    "occurred_at",
    "stage",
    "province_code",
    "agency",
    "dead_letter_id",
    "error",
    "recorded_at",
)


def canonical(value: Any) -> str:
    """One text per value: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical({k: entry.get(k) for k in HASHED_FIELDS}).encode()).hexdigest()


def seal(
    *,
    seq: int,
    prev_hash: str,
    proposal_id: str | None,
    proposal_seq: int,
    proposal_prev_hash: str,
    content: Mapping[str, Any],
) -> dict[str, Any]:
    """The document to store: indexed copies of the content's fields, the body, the links, the
    hash. The indexed copies are checked against the body by `verify`."""
    entry: dict[str, Any] = {k: content.get(k) for k in INDEXED_FIELDS}
    entry.update(
        seq=seq,
        prev_hash=prev_hash,
        proposal_id=proposal_id,
        proposal_seq=proposal_seq,
        proposal_prev_hash=proposal_prev_hash,
        body=canonical(dict(content)),
    )
    entry["hash"] = entry_hash(entry)
    return entry


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"entry #{self.seq}: {self.reason}"


@dataclass
class Verifier:
    """Checks entries in global order, a page at a time (so a client can show progress)."""

    last_seq: int = 0
    last_hash: str = GENESIS
    proposal_heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    checked: int = 0
    broken: BrokenLink | None = None

    def feed(self, entries: Iterable[Mapping[str, Any]]) -> BrokenLink | None:
        for entry in entries:
            if self.broken is not None:
                return self.broken
            self.broken = self._check(entry)
            self.checked += 1
        return self.broken

    def _check(self, entry: Mapping[str, Any]) -> BrokenLink | None:
        seq = int(entry.get("seq", -1))
        if seq != self.last_seq + 1:
            return BrokenLink(
                seq, f"expected entry #{self.last_seq + 1} next (missing or reordered entries)"
            )
        if entry.get("prev_hash") != self.last_hash:
            return BrokenLink(seq, "prev_hash does not match the hash of the entry before it")
        if entry_hash(entry) != entry.get("hash"):
            return BrokenLink(seq, "content changed: its hash does not match what is stored")
        try:
            body = json.loads(entry["body"])
        except (KeyError, TypeError, ValueError):
            return BrokenLink(seq, "body is not JSON")
        for name in INDEXED_FIELDS:
            if body.get(name) != entry.get(name):
                return BrokenLink(seq, f"field {name!r} differs from the hashed body")
        proposal = entry.get("proposal_id")
        if proposal is not None:
            head_seq, head_hash = self.proposal_heads.get(proposal, (0, GENESIS))
            if (
                entry.get("proposal_seq") != head_seq + 1
                or entry.get("proposal_prev_hash") != head_hash
            ):
                return BrokenLink(
                    seq,
                    f"proposal chain of {proposal} broken (expected its "
                    f"event #{head_seq + 1} after the previous one)",
                )
            self.proposal_heads[proposal] = (head_seq + 1, str(entry["hash"]))
        self.last_seq = seq
        self.last_hash = str(entry["hash"])
        return None
