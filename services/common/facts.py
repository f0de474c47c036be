"""The fact check: a record on a fact topic is acted on only if the topic's owning service signed
it with a key of its own, current when the broker took the record
(`smartcity_th.contracts.signing.verify_fact`, with this service's registry projection), and it
is a fact of that service in the catalogue (`contracts.access.fact_refusal`). The
`smartcity-emitted-by` stamp is not trusted: any writer of the topic (the console, for its
replays) can set it.

A refused fact changes nothing and becomes a dead letter of kind `unverified_fact` whose error
starts with the reason, counted in `smartcity_facts_unverified_total{service,reason}`; the
consumer moves on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import structlog
from prometheus_client import Counter

from smartcity_th.contracts.access import fact_refusal, fact_topic_owners, service_principal
from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.contracts.signing import Unauthenticated, UnsignedBeforeCutOver, verify_fact
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.registry import RegistryProjection

log = structlog.get_logger(__name__)

DEAD_LETTER_KIND = "unverified_fact"

FACTS_VERIFIED = Counter(
    "smartcity_facts_verified_total",
    "Facts whose owning service's signature verified (outcome signed), or unsigned facts "
    "accepted because the broker took them before the owner's first key (outcome "
    "before_cut_over)",
    ["service", "outcome"],
)
FACTS_UNVERIFIED = Counter(
    "smartcity_facts_unverified_total",
    "Records on a fact topic refused because their owner's signature does not verify "
    "(unsigned, malformed, unknown_key, wrong_agency, revoked_key, bad_signature, ...) or "
    "they are not a fact of the topic's owner (not_owned)",
    ["service", "reason"],
)


class FactCheck:
    def __init__(
        self,
        service: str,
        registry: RegistryProjection,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._service = service
        self._registry = registry
        self._clock = clock
        self._owners = fact_topic_owners()

    def refusal(
        self,
        topics: Topics,
        *,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: tuple[tuple[str, bytes], ...],
        received_at: dt.datetime | None,
        envelope: AnyEnvelope,
    ) -> str | None:
        """Why this record must not be acted on ('<reason>: <detail>'), or None (also for a
        record on a topic that carries no facts)."""
        bare = topics.bare(topic)
        owner = self._owners.get(bare)
        if owner is None:
            return None
        not_owned = fact_refusal(bare, envelope.event_type, envelope.producer)
        if not_owned is not None:
            FACTS_UNVERIFIED.labels(self._service, "not_owned").inc()
            return f"not_owned: {not_owned}"
        state = self._registry.state
        verdict = verify_fact(
            value=value or b"",
            key=key,
            headers=dict(headers),
            topic=topic,
            owner=service_principal(owner),
            agencies=state.agencies,
            keys=state.signing_keys,
            received_at=received_at or self._clock(),
        )
        if isinstance(verdict, Unauthenticated):
            FACTS_UNVERIFIED.labels(self._service, verdict.reason).inc()
            log.warning(
                "fact.unverified",
                reason=verdict.reason,
                detail=verdict.detail,
                key_id=verdict.key_id,
                topic=topic,
                event_type=envelope.event_type,
                event_id=str(envelope.event_id),
            )
            return f"{verdict.reason}: {verdict.detail}"
        outcome = "before_cut_over" if isinstance(verdict, UnsignedBeforeCutOver) else "signed"
        FACTS_VERIFIED.labels(self._service, outcome).inc()
        return None
