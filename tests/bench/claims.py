"""Cost of signing and of verifying one claim (pure CPU; no broker): what `make bench` reports
as `claim_sign_us` and `claim_verify_us` (median and p99 over `n` claims). Verification is what
the intake gate does per claim: read the producer from the body, parse the header, check the
key against the registry and the Ed25519 signature."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from typing import Any

from smartcity_th.contracts import topics
from smartcity_th.contracts.examples import example_envelope
from smartcity_th.contracts.signing import SigningKey, raw_public_key, verify
from smartcity_th.services.common.claims import claimed_fields
from tests.support import signer_for


def microseconds(samples_ns: list[int]) -> dict[str, float]:
    """The median and p99 of timings in nanoseconds, in microseconds."""
    ordered = sorted(samples_ns)
    return {
        "median": round(statistics.median(ordered) / 1000, 1),
        "p99": round(ordered[int(len(ordered) * 0.99) - 1] / 1000, 1),
    }


def measure(n: int = 2000) -> dict[str, Any]:
    signer = signer_for("lg-phuket-city")
    envelope = example_envelope("ProposalSubmitted").model_copy(
        update={"producer": "lg-phuket-city"}
    )
    key = SigningKey(
        signer.key_id,
        "lg-phuket-city",
        raw_public_key(signer.private_key),
        dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
    keys = {key.key_id: key}
    now = dt.datetime.now(dt.UTC)
    sign_ns: list[int] = []
    verify_ns: list[int] = []
    for _ in range(n):
        started = time.perf_counter_ns()
        record = signer.sign(envelope, topic=topics.INTAKE)
        sign_ns.append(time.perf_counter_ns() - started)
        headers = {k: v.encode() for k, v in record.headers.items()}
        started = time.perf_counter_ns()
        producer, _ = claimed_fields(record.value)
        verdict = verify(
            value=record.value,
            key=record.key,
            headers=headers,
            topic=topics.INTAKE,
            producer=producer,
            agencies={"lg-phuket-city"},
            keys=keys,
            at=now,
            received_at=now,
        )
        verify_ns.append(time.perf_counter_ns() - started)
        assert verdict, verdict
    assert topics.HEADER_EVENT_TYPE in record.headers

    return {
        "claims": n,
        "claim_bytes": len(record.value),
        "claim_sign_us": microseconds(sign_ns),
        "claim_verify_us": microseconds(verify_ns),
    }


if __name__ == "__main__":
    print(measure())
