"""The console's JSON answers as the OpenAPI document describes them (issue 25).

The routes build their bodies with the pure views (views.py, flow.py) and send them as they are;
these models only describe them, so that /openapi.json (and schemathesis' response-schema check,
tests/e2e/test_openapi_fuzz.py) and the CLI's readers agree with what is sent. Every object is
closed (no field the model does not name: a new field is added here first) except a stored
audit entry, which is sent as it is stored. tests/unit/test_console_responses.py validates the
views' output against them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Names(Closed):
    """A name people read, in Thai and English."""

    th: str
    en: str


class EventRow(Closed):
    """One line of the event log (services/console/views.py `row`)."""

    event_name: Names | None = Field(description="The event type's name; none for a raw record")
    stage_name: Names | None = Field(description="The stage's name, where the event sets one")
    decided_on: str | None = Field(description="The date a dated decision was taken (ISO)")
    seq: int = Field(description="Sequence number in the audit log")
    kind: str | None = Field(description="event, deadletter, raw or replay")
    topic: str | None
    event_type: str | None = Field(description="`(unreadable)` for a record no one could parse")
    stage: str | None
    producer: str | None
    proposal_id: str | None
    agency: str | None
    province_code: str | None
    province: str = Field(description="The province's Thai and English names, or its code")
    occurred_at: str | None
    recorded_at: str | None
    summary: str
    dead_letter_id: str | None
    error: str | None
    hash: str | None = Field(description="The entry's hash in the audit chain")
    trace_id: str | None = Field(description="The trace the record was produced in")


class ReportView(Closed):
    progress_percent: int
    state: str
    reported_on: str


class RegistryArea(Closed):
    """A certified area with its status as of the registry's day (contracts.certificate)."""

    certificate_number: str
    proposal_id: str
    area_th: str
    area_en: str
    province_code: str
    province_th: str
    province_en: str
    meeting: str
    valid_from: str
    deliver_by: str
    status: str = "active"
    status_th: str | None = None
    status_en: str | None = None
    days_left: int | None = None
    history: bool | None = None
    report: ReportView | None = None
    renewals: int | None = None
    lapsed: Names | None = None


class ProvinceCount(Closed):
    province_code: str
    province_th: str
    province_en: str
    areas: int


class Registry(Closed):
    areas: list[RegistryArea]
    area_count: int
    province_count: int
    by_province: list[ProvinceCount]
    by_status: dict[str, int] = Field(description="How many areas have each status")
    as_of: str = Field(description="The day the statuses are as of (ISO date)")
    go_live: str | None = Field(description="Deadlines before this day are history")
    areas_listed: bool = Field(
        default=True,
        description="False when `areas` is left empty because there are too many to list "
        "whole: ask for one province's (`province`)",
    )


class Delivery(Closed):
    """An email's outcome, from a NotificationSent, NotificationFailed or NotificationHeld."""

    seq: int
    proposal_id: str | None
    status: Literal["sent", "failed", "held for review"]
    recipient_id: str | None
    recipient_email: str | None
    about_event_type: str | None
    message_id: str | None
    attempts: int | None
    error: str | None
    delivery_id: str | None
    at: str | None


class ReplayMark(Closed):
    replayed_by: str
    at: str


class DeadLetterView(Closed):
    """A dead-letter record as stored (contracts.deadletter), with the replays made of it."""

    seq: int
    dead_letter_id: str | None
    proposal_id: str | None
    consumer: str | None
    topic: str | None
    partition: int | None
    offset: int | None
    error_kind: str | None
    error: str | None
    event_type: str | None
    event_id: str | None
    attempts: int | None
    at: str | None
    key_b64: str | None
    value_b64: str | None
    headers: dict[str, str] | None
    replays: list[ReplayMark]


class Replayed(Closed):
    replay_id: str
    dead_letter_id: str
    topic: str
    replayed_by: str
    at: str


class AuditEntry(BaseModel):
    """A stored audit entry as it is (the content's indexed fields beside these)."""

    model_config = ConfigDict(extra="allow")

    seq: int
    prev_hash: str
    proposal_id: str | None
    proposal_seq: int
    proposal_prev_hash: str
    body: str = Field(description="The entry's content, canonical JSON")
    hash: str


class SigningKeyView(Closed):
    key_id: str
    agency_id: str
    public_key: str = Field(description="Ed25519 public key, base64")
    registered_at: str
    revoked_at: str | None


class SigningKeys(Closed):
    agencies: list[str]
    signing_keys: list[SigningKeyView]


class ChainHead(Closed):
    seq: int
    hash: str


class Waited(Closed):
    seconds: float
    th: str
    en: str


class Due(Closed):
    kind: Literal["revision", "delivery"]
    date: str | None


class PipelineProposal(Closed):
    proposal_id: str
    area_th: str
    area_en: str
    province_th: str
    province_en: str | None = Field(default=None, description="Once its content is known")
    due: Due | None
    stage: str
    since: str | None
    event_type: str
    waited: Waited | None
    overdue: bool


class PipelineStage(Closed):
    stage: str
    th: str
    en: str
    terminal: bool
    count: int
    overdue: int
    longest: Waited | None
    proposals: list[PipelineProposal] = Field(
        description="The longest-waiting, longest first: at most the pipeline's `per_stage` "
        "(every one of the stage: its pages, /api/pipeline/{stage})"
    )
    more: bool = Field(default=False, description="The stage has more than `proposals` lists")


class Pipeline(Closed):
    as_of: str
    stages: list[PipelineStage]
    total: int
    overdue: int
    per_stage: int | None = Field(
        default=None, description="How many proposals each stage lists at most"
    )


class PipelineLane(Closed):
    """One page of a stage's proposals (a shard of the pipeline's projection), longest wait
    first, and where its neighbouring pages are."""

    stage: str
    th: str
    en: str
    terminal: bool
    page: int
    pages: int = Field(description="How many pages the stage has")
    next_page: int | None
    prev_page: int | None
    count: int = Field(description="Proposals on this page")
    overdue: int = Field(description="Overdue proposals on this page")
    proposals: list[PipelineProposal]


class StageName(Closed):
    stage: str
    th: str
    en: str


class Decision(Closed):
    meeting_id: str | None
    date: str | None
    chair_th: str | None
    resolution: dict[str, str | None] | str | None = Field(
        description="The resolution as minuted ({th, en}); an award: its certificate number"
    )


class Email(Closed):
    status: str
    to: str | None
    recipient_id: str | None
    error: str | None


class Step(Closed):
    """A stage reached (done, current: with its event) or still ahead (names only)."""

    stage: str
    th: str
    en: str
    state: Literal["done", "current", "ahead"]
    event_type: str | None = None
    at: str | None = None
    decision: Decision | None = None
    emails: list[Email] | None = None
    seq: int | None = None


class StageDiagram(Closed):
    current: StageName | None
    steps: list[Step]


class TraceLink(Closed):
    trace_id: str
    url: str = Field(description="The trace in Jaeger")
    events: list[str]


class LagRow(Closed):
    group: str
    topic: str
    partition: int
    committed: int
    end: int
    lag: int
