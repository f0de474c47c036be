"""What every service process is made of, wired once: broker, MongoDB, outbox, dead letters,
background tasks, and a FastAPI app whose lifespan starts and stops them in order."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import Counter, Histogram
from starlette.middleware import Middleware

from smartcity_th.contracts.access import fact_topic_owners
from smartcity_th.contracts.catalogue import claims_for
from smartcity_th.services.common import openapi, telemetry, web_security
from smartcity_th.services.common.claims import ClaimGate, RefusedClaims
from smartcity_th.services.common.consumer import EventConsumer, is_transient
from smartcity_th.services.common.dead_letters import DeadLetters
from smartcity_th.services.common.errors import StreamedBodyLimit, install_error_shape
from smartcity_th.services.common.facts import FactCheck
from smartcity_th.services.common.http import kafka_check, mongo_check, ops_router
from smartcity_th.services.common.kafka import check_topics, make_broker
from smartcity_th.services.common.mongo import make_client
from smartcity_th.services.common.registry import RegistryProjection
from smartcity_th.services.common.retry import Backoff
from smartcity_th.services.common.settings import ClaimOwnerSettings, ServiceSettings
from smartcity_th.services.common.store import AggregateStore, CommitPublisher, Relay

log = structlog.get_logger(__name__)

Task = Callable[[], Awaitable[None]]

HTTP_REQUESTS = Counter(
    "smartcity_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "smartcity_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
)


class Runtime:
    def __init__(self, name: str, settings: ServiceSettings, mongo_db: str) -> None:
        self.name = name
        self.settings = settings
        self.topics = settings.topics
        self.tracer_provider = telemetry.setup(
            name, enabled=settings.tracing_enabled, endpoint=settings.otlp_endpoint
        )
        self.broker = make_broker(
            settings,
            client_id=name,
            middlewares=telemetry.kafka_middlewares(
                self.tracer_provider, frozenset({self.topics.intake})
            ),
        )
        self.mongo = make_client(settings.store_url(name), name, settings.mongo_max_pool_size)
        self.db = self.mongo[mongo_db]
        # services.common.cli (StartupRefused) imports this module: import where it is used.
        from smartcity_th.services.common.service_key import load_service_key

        self.signer = load_service_key(settings.signing_key_file, name)
        self.publisher = CommitPublisher(self.broker, self.topics, name, self.signer)
        self.publisher.publish_on_commit = settings.outbox_publish_on_write
        self.dead_letters = DeadLetters(self.broker, self.topics)
        self.registry = RegistryProjection(settings.kafka_auth(name), self.topics.registry, name)
        self.facts = FactCheck(name, self.registry)
        self.stores: list[AggregateStore] = []
        self.on_start: list[Task] = [self.report_signing_key]
        self.background: list[Task] = []
        self.on_stop: list[Task] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.relay: Relay | None = None
        self.claim_gate = ClaimGate(
            name,
            self.registry,
            RefusedClaims(self.store("refused_claims")) if claims_for(name) else None,
            settings.claim_policy() if isinstance(settings, ClaimOwnerSettings) else None,
        )

    async def report_signing_key(self) -> None:
        """Say at start-up whether the facts this service publishes will pass their consumers'
        check: its key must be registered and current for svc-<service>."""
        from smartcity_th.services.common.service_key import registered_state

        if self.name not in fact_topic_owners().values():
            return
        state = registered_state(self.signer, self.registry.state)
        key_id = self.signer.key_id if self.signer else None
        if state == "current":
            log.info("service.signing_key", key_id=key_id)
            return
        log.warning(
            "service.signing_key",
            state=state,
            key_id=key_id,
            consequence="facts are published unsigned: consumers refuse them once this "
            "service has a registered key"
            if self.signer is None
            else "consumers refuse the facts signed with this key until it is registered and "
            "current for the service (smartcity-admin signing-key ensure)",
        )

    def store(self, name: str) -> AggregateStore:
        """An aggregate store in this service's database, published and relayed by it."""
        store = AggregateStore(self.db, name, self.publisher)
        self.stores.append(store)
        self.on_start.append(store.ensure_indexes)
        return store

    def consumer(self, group_id: str) -> EventConsumer:
        return EventConsumer(
            group_id,
            self.dead_letters,
            max_attempts=self.settings.consumer_max_attempts,
            facts=self.facts,
        )

    async def _when_available(self, what: str, step: Task) -> None:
        """Run a start-up step, waiting (with capped backoff, up to `startup_wait_seconds`,
        0 for no limit) while Kafka or MongoDB is not reachable yet: a service started together
        with, or during an outage of, its servers waits for them instead of exiting."""
        loop = asyncio.get_running_loop()
        limit = self.settings.startup_wait_seconds
        deadline = loop.time() + limit if limit else None
        backoff = Backoff(0.5, 5.0)
        while True:
            try:
                await step()
                return
            except Exception as exc:
                if not is_transient(exc) or (deadline is not None and loop.time() > deadline):
                    log.error("service.start_failed", what=what, error=str(exc)[:1000])
                    raise
                log.warning("service.waiting_for", what=what, error=repr(exc)[:300])
                await asyncio.sleep(backoff.after_failure())

    async def _check_topics(self) -> None:
        await check_topics(self.settings.kafka_auth(self.name), self.name, self.topics)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI | None = None) -> AsyncIterator[None]:
        await self._when_available("kafka topics", self._check_topics)
        await self._when_available("agency registry", self.registry.start)
        for hook in self.on_start:
            await self._when_available("mongodb", hook)
        await self._when_available("kafka broker", self.broker.start)
        self.relay = Relay(
            self.publisher,
            self.stores,
            self.name,
            sweep_seconds=self.settings.outbox_sweep_seconds,
            grace_seconds=self.settings.outbox_grace_seconds,
        )
        self._tasks = [asyncio.create_task(self.registry.run(), name=f"{self.name}-registry")]
        if self.settings.outbox_relay_enabled:
            self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.name}-relay"))
        self._tasks += [asyncio.ensure_future(t()) for t in self.background]
        log.info("service.started", topics=list(self.topics.all()))
        try:
            yield
        finally:
            log.info("service.stopping")
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.broker.stop()
            await self.registry.stop()
            for hook in self.on_stop:
                await hook()
            await self.mongo.close()
            telemetry.shutdown()
            log.info("service.stopped")

    def app(
        self,
        title: str,
        routers: Sequence[APIRouter],
        *,
        description: str = "",
        csp: str = web_security.API_CSP,
        headers: dict[str, str] | None = None,
    ) -> FastAPI:
        """The service's app: its routers, /healthz and /metrics, request metrics, the one error
        shape, and security headers on every response (`csp` where a response sets none, and
        `headers`; services/common/web_security.py)."""
        app = FastAPI(title=title, description=description, lifespan=self.lifespan)
        app.include_router(
            ops_router({"kafka": kafka_check(self.broker), "mongodb": mongo_check(self.mongo)})
        )
        for router in routers:
            app.include_router(router)
        telemetry.instrument_app(app, self.tracer_provider)

        @app.middleware("http")
        async def count_requests(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            started = time.perf_counter()
            status = 500
            try:
                response = await call_next(request)
                status = response.status_code
                return response
            finally:
                route = request.scope.get("route")
                template = getattr(route, "path", None) or "(unmatched)"
                HTTP_REQUESTS.labels(self.name, request.method, template, str(status)).inc()
                HTTP_LATENCY.labels(self.name, request.method, template).observe(
                    time.perf_counter() - started
                )

        install_error_shape(app)
        web_security.install(app, csp, headers or {})
        openapi.install(app)
        # Innermost (next to the routes), so that its refusal reaches the exception handlers.
        app.user_middleware.append(
            Middleware(StreamedBodyLimit, max_bytes=self.settings.max_body_bytes)
        )
        return app


def serve(app: FastAPI, host: str, port: int) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=20,
    )
