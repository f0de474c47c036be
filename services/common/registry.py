"""Each service's own projection of the agency registry: a reader of the compacted registry
topic, from its beginning, without a consumer group; the state is
`smartcity_th.contracts.registry.Registry`.

Start-up reads up to the end of the topic before the service takes traffic; afterwards a
background task applies each new event as it arrives (a long poll: the broker answers the
waiting fetch when a record comes, so an onboarded agency or a revoked key is seen without a
restart and without a timer; an idle reader asks once every `LONG_POLL_MS`).
"""

from __future__ import annotations

import asyncio
import datetime as dt

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter, Gauge

from smartcity_th.contracts.agencies import Agency
from smartcity_th.contracts.registry import Registry, RegistryRecordError, parse_registry_record
from smartcity_th.services.common.kafka import FETCHER_IDLE_MS, LONG_POLL_MS, make_consumer
from smartcity_th.services.common.kafka_auth import KafkaAuth

log = structlog.get_logger(__name__)

REGISTRY_APPLIED = Counter(
    "smartcity_registry_events_applied_total", "Registry events applied", ["service"]
)
REGISTRY_INVALID = Counter(
    "smartcity_registry_events_invalid_total",
    "Registry records that were not registry events",
    ["service"],
)
REGISTRY_REFUSED = Counter(
    "smartcity_registry_events_refused_total",
    "Registry events not applied because the registry's rules refuse them (a registration of "
    "a revoked key: a revocation is final)",
    ["service"],
)
REGISTRY_LAST = Gauge(
    "smartcity_registry_last_event_timestamp_seconds",
    "When the last registry event applied here was made",
    ["service"],
)


class RegistryProjection:
    def __init__(self, auth: KafkaAuth, topic: str, service: str, *, poll_ms: int = 200) -> None:
        self.state = Registry()
        self._auth = auth
        self._topic = topic
        self._service = service
        self._poll_ms = poll_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._tp = TopicPartition(topic, 0)

    def agency(self, agency_id: str) -> Agency:
        """The agency, or `UnknownAgency` (the same contract as
        `smartcity_th.contracts.agencies.agency`)."""
        return self.state.agency(agency_id)

    async def start(self) -> None:
        """Read the registry up to its current end."""
        if self._consumer is None:
            consumer = make_consumer(
                self._auth,
                f"{self._service}-registry",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=LONG_POLL_MS,
                consumer_timeout_ms=FETCHER_IDLE_MS,
            )
            await consumer.start()
            consumer.assign([self._tp])
            await consumer.seek_to_beginning(self._tp)
            self._consumer = consumer
        end = (await self._consumer.end_offsets([self._tp]))[self._tp]
        while await self._consumer.position(self._tp) < end:
            await self._poll_once(log_each=False, timeout_ms=self._poll_ms)
        log.info(
            "registry.loaded",
            agencies=len(self.state.agencies),
            signing_keys=len(self.state.signing_keys),
            api_keys=len(self.state.api_keys),
        )

    async def _poll_once(self, *, log_each: bool = True, timeout_ms: int = LONG_POLL_MS) -> None:
        """Apply what the broker has; waits up to `timeout_ms` for a record (one that arrives
        ends the wait at once: following the registry is a long poll, not a timer)."""
        assert self._consumer is not None
        batches = await self._consumer.getmany(self._tp, timeout_ms=timeout_ms)
        for records in batches.values():
            for record in records:
                try:
                    envelope = parse_registry_record(record.value)
                except RegistryRecordError as exc:
                    REGISTRY_INVALID.labels(self._service).inc()
                    log.warning("registry.invalid_record", offset=record.offset, error=str(exc))
                    continue
                refused = self.state.apply(envelope)
                if refused is not None:
                    REGISTRY_REFUSED.labels(self._service).inc()
                    log.warning("registry.refused", subject=envelope.subject, reason=refused)
                    continue
                REGISTRY_APPLIED.labels(self._service).inc()
                REGISTRY_LAST.labels(self._service).set(envelope.occurred_at.timestamp())
                if not log_each:
                    continue
                log.info(
                    "registry.applied",
                    event_type=envelope.event_type,
                    subject=envelope.subject,
                    lag_seconds=round(
                        (dt.datetime.now(dt.UTC) - envelope.occurred_at).total_seconds(), 3
                    ),
                )

    async def run(self) -> None:
        while True:
            try:
                await self._poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka away: keep the last state, try again
                log.warning("registry.poll_failed", error=repr(exc)[:300])
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
