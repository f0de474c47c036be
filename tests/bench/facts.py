"""Cost of signing and of verifying one fact (pure CPU; no broker, no store): what a service adds
to each event it commits (`CommitPublisher.seal`: the stamp and the v2 signature over the
namespaced topic) and what every consumer adds to each fact it reads (`FactCheck.refusal`: the
catalogue check, the header parsed, the owner's key looked up in the registry projection and the
Ed25519 signature checked). Median and p99 over `n` facts, in microseconds.

    python -m tests.bench.facts
"""

from __future__ import annotations

import datetime as dt
import time
from types import SimpleNamespace
from typing import Any

from faststream.kafka import KafkaBroker

from smartcity_th.contracts import topics
from smartcity_th.contracts.examples import example_envelope
from smartcity_th.contracts.registry import Registry
from smartcity_th.contracts.signing import SigningKey, raw_public_key
from smartcity_th.services.common.facts import FactCheck
from smartcity_th.services.common.store import CommitPublisher, record_of
from tests.bench.claims import microseconds
from tests.support import signer_for


def measure(n: int = 2000) -> dict[str, Any]:
    owner = "svc-approvals"
    signer = signer_for(owner)
    named = topics.Topics("bench.")
    envelope = example_envelope("SubcommitteeApproved")
    publisher = CommitPublisher(KafkaBroker(), named, "approvals", signer)
    registry = Registry()
    registry.signing_keys[signer.key_id] = SigningKey(
        signer.key_id,
        owner,
        raw_public_key(signer.private_key),
        dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
    registry.agencies[owner] = SimpleNamespace(agency_id=owner)  # type: ignore[assignment]
    check = FactCheck("bench", SimpleNamespace(state=registry))  # type: ignore[arg-type]
    now = dt.datetime.now(dt.UTC)
    unsealed = record_of(envelope)
    sign_ns: list[int] = []
    verify_ns: list[int] = []
    for _ in range(n):
        started = time.perf_counter_ns()
        sealed = publisher.seal(unsealed)
        sign_ns.append(time.perf_counter_ns() - started)
        value, key = sealed["value"].encode(), sealed["key"].encode()
        headers = tuple((k, v.encode()) for k, v in sealed["headers"].items())
        started = time.perf_counter_ns()
        refusal = check.refusal(
            named,
            topic=named.decisions,
            value=value,
            key=key,
            headers=headers,
            received_at=now,
            envelope=envelope,
        )
        verify_ns.append(time.perf_counter_ns() - started)
        assert refusal is None, refusal

    return {
        "facts": n,
        "fact_bytes": len(value),
        "fact_sign_us": microseconds(sign_ns),
        "fact_verify_us": microseconds(verify_ns),
    }


if __name__ == "__main__":
    print(measure())
