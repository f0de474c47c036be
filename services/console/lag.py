"""Consumer lag of every group that reads the project's topics: a Prometheus gauge per group,
topic and partition (refreshed in the background) and the same rows on demand for the API."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import structlog
from prometheus_client import Gauge

from smartcity_th.services.common.kafka import consumer_lag
from smartcity_th.services.common.kafka_auth import KafkaAuth

log = structlog.get_logger(__name__)

CONSUMER_LAG = Gauge(
    "smartcity_consumer_lag",
    "Records on a partition not yet consumed by a consumer group (end offset - committed)",
    ["group", "topic", "partition"],
)


class LagMonitor:
    def __init__(self, auth: KafkaAuth, topics: Sequence[str], every_seconds: float) -> None:
        self._auth = auth
        self._topics = list(topics)
        self._every = every_seconds

    async def rows(self) -> list[dict[str, Any]]:
        return await consumer_lag(self._auth, self._topics)

    async def refresh(self) -> list[dict[str, Any]]:
        rows = await self.rows()
        for r in rows:
            CONSUMER_LAG.labels(r["group"], r["topic"], str(r["partition"])).set(r["lag"])
        return rows

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("lag.refresh_failed", error=repr(exc))
            await asyncio.sleep(self._every)
