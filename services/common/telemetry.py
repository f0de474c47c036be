"""Tracing: OpenTelemetry in every service, exported over OTLP (Jaeger in the local stack).

One submission is one trace: the HTTP request (opentelemetry-instrumentation-fastapi), the
MongoDB commands it causes (the PyMongo instrumentation), every Kafka publish and consume
(FastStream's telemetry middleware, which writes and reads the W3C `traceparent` record header),
and the SMTP sends of the emails it causes. Work that is stored first and done later (the outbox,
queued emails) carries the trace context in the stored document: `capture()` when it is stored,
`restored()` when it is done. Those two functions are the whole of that contract.

A claim's trace context is not continued: agencies write the intake topic, and a `traceparent`
header on a claim is not signed, so an agency could otherwise attach the services' work to a
trace of its choosing. `kafka_middlewares` drops the trace headers of intake records before
FastStream's middleware reads them (so consuming a claim starts a new trace), and the claim gate
opens `claim_span`, linked to the context the claim carried.

Tracing is a setting (`<SERVICE>_TRACING_ENABLED`, `<SERVICE>_OTLP_ENDPOINT`); when it is off
nothing is instrumented and `capture()` returns an empty carrier. The standard variables win
where set: OTEL_SDK_DISABLED, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from faststream import BaseMiddleware
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACER_NAME = "smartcity"
ATTR_PROPOSAL_ID = "smartcity.proposal_id"
ATTR_EVENT_TYPE = "smartcity.event_type"
ATTR_EVENT_ID = "smartcity.event_id"
SMTP_SPAN = "smtp send"
UNTRACED_ROUTES = "/healthz,/metrics,/events/stream,/static/"

_provider: Any = None


def setup(service: str, *, enabled: bool, endpoint: str) -> Any:
    """Install the process's tracer provider (once; later calls return the same one) and the
    PyMongo instrumentation. Returns the provider, or None when tracing is off. Call it before
    the MongoDB client and the Kafka broker are made."""
    global _provider
    if not enabled or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    if _provider is not None:
        return _provider
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create(resource_attributes(service, os.environ)),
        sampler=ParentBased(root=_NoLoneDatabaseCalls()),
    )
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_endpoint(endpoint, os.environ)))
    )
    trace.set_tracer_provider(provider)
    PymongoInstrumentor().instrument(tracer_provider=provider)
    _provider = provider
    return provider


def resource_attributes(service: str, env: Mapping[str, str]) -> dict[str, str]:
    """The service's name, unless the standard OTEL_SERVICE_NAME (or `service.name` in
    OTEL_RESOURCE_ATTRIBUTES) says otherwise: the SDK reads those, and ours must not win."""
    attributes = {"service.namespace": "smartcity"}
    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    if not named:
        attributes["service.name"] = service
    return attributes


def traces_endpoint(endpoint: str, env: Mapping[str, str]) -> str | None:
    """Where spans go: the standard OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
    OTEL_EXPORTER_OTLP_ENDPOINT when set (None: the exporter reads them itself), else the
    service's own setting."""
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    return f"{endpoint.rstrip('/')}/v1/traces"


class _NoLoneDatabaseCalls(Sampler):
    """Root sampler: a MongoDB command with no parent span is a background poll (the outbox
    relay's sweep, the email sender's queue check, a gauge refresh) and would be a trace of its
    own every second; those are dropped. Everything else is sampled."""

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: Any = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> Any:
        if kind == SpanKind.CLIENT and name != SMTP_SPAN:  # PyMongo's spans are CLIENT spans
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "NoLoneDatabaseCalls"


TRACE_HEADERS = ("traceparent", "tracestate", "baggage")
"""The W3C headers that carry a trace context (and baggage) from one process to the next."""


def kafka_middlewares(
    provider: Any, untrusted_topics: frozenset[str] = frozenset()
) -> tuple[Any, ...]:
    """FastStream's telemetry middleware: a span per publish and per consume, with the W3C
    trace context written to and read from the record headers; before it (outermost), one that
    hides the trace headers of records on `untrusted_topics` (the intake) from it."""
    if provider is None:
        return ()
    from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware

    return (
        UntrustedTraceContext(untrusted_topics),
        KafkaTelemetryMiddleware(tracer_provider=provider),
    )


class UntrustedTraceContext:
    """A FastStream middleware factory: records read from `topics` reach the middlewares after it
    without their trace headers (the raw record keeps them, for `claim_span`'s link)."""

    def __init__(self, topics: frozenset[str]) -> None:
        self.topics = topics

    def __call__(self, msg: Any, /, *, context: Any) -> BaseMiddleware[Any, Any]:
        return _StripTraceHeaders(msg, context=context, topics=self.topics)


class _StripTraceHeaders(BaseMiddleware[Any, Any]):
    def __init__(self, msg: Any, /, *, context: Any, topics: frozenset[str]) -> None:
        super().__init__(msg, context=context)
        self.topics = topics

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        if getattr(msg.raw_message, "topic", None) in self.topics:
            msg.headers = {k: v for k, v in (msg.headers or {}).items() if k not in TRACE_HEADERS}
        return await call_next(msg)


def instrument_app(app: Any, provider: Any) -> None:
    """A server span per HTTP request (FastAPI's instrumentation); health, metrics and the
    console's live stream are left out."""
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_ROUTES)


def shutdown() -> None:
    """Send the spans still buffered (at process stop)."""
    if _provider is not None:
        _provider.force_flush(5000)


def tracer() -> Tracer:
    return trace.get_tracer(TRACER_NAME)


# ---------------------------------------------------------------- carrying a trace in storage
def capture() -> dict[str, str]:
    """The current trace context as a small dict (`traceparent`, maybe `tracestate`), to store
    with work that is done later. Empty when nothing is being traced."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextlib.contextmanager
def restored(carrier: Mapping[str, str] | None) -> Iterator[None]:
    """Make a captured trace context current again, so that what is done now (a publish by the
    outbox relay, an SMTP send) joins the trace it was stored in."""
    if not carrier:
        yield
        return
    token = otel_context.attach(propagate.extract(dict(carrier)))
    try:
        yield
    finally:
        otel_context.detach(token)


def carried_context(carrier: Mapping[str, str]) -> SpanContext:
    """The span context a W3C `traceparent` (and `tracestate`) carries, read by OpenTelemetry's
    propagator; invalid (`is_valid` false) when there is none or it is malformed."""
    extracted = TraceContextTextMapPropagator().extract(dict(carrier))
    return trace.get_current_span(extracted).get_span_context()


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id (32 hex digits) in a W3C `traceparent` header value, or None."""
    if not traceparent:
        return None
    context = carried_context({"traceparent": traceparent})
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


# ---------------------------------------------------------------- attributes
def annotate(
    *, proposal_id: str | None, event_type: str | None, event_id: str | None = None
) -> None:
    """Put the proposal id and event type on the current span (so traces can be searched by
    them in Jaeger)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    if proposal_id:
        span.set_attribute(ATTR_PROPOSAL_ID, proposal_id)
    if event_type:
        span.set_attribute(ATTR_EVENT_TYPE, event_type)
    if event_id:
        span.set_attribute(ATTR_EVENT_ID, event_id)


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    links: list[Link] | None = None,
) -> Iterator[Span]:
    """A span of this project's own (where no instrumentation exists: outbox, SMTP, claims)."""
    attrs = {k: v for k, v in (attributes or {}).items() if v is not None}
    with tracer().start_as_current_span(name, kind=kind, attributes=attrs, links=links) as current:
        yield current


def carried_link(headers: Iterable[tuple[str, bytes]]) -> Link | None:
    """A span link to the trace context that record headers carry (None if they carry no valid
    one): how a claim's own trace points at the one its producer was in, without joining it."""
    carrier = {
        name: value.decode("latin-1")
        for name, value in headers
        if name in ("traceparent", "tracestate")
    }
    context = carried_context(carrier)
    return Link(context) if context.is_valid else None


@contextlib.contextmanager
def claim_span(
    name: str, headers: Iterable[tuple[str, bytes]], attributes: Mapping[str, Any] | None = None
) -> Iterator[Span]:
    """The span in which a claim is checked and handled: in the service's own trace, with a
    link to the context the claim carried (never its child)."""
    link = carried_link(headers)
    with span(name, attributes=attributes, links=None if link is None else [link]) as current:
        yield current
