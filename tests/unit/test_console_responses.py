"""The console's JSON answers are what its OpenAPI document says (services/console/responses.py):
the pure views' output, built from stored entries as the console stores them, validates against
the closed models the routes declare; and each JSON route declares one."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from smartcity_th.contracts.deadletter import DeadLetter
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.record import Record
from smartcity_th.services.console import responses as r
from smartcity_th.services.console.chain import GENESIS, seal
from smartcity_th.services.console.entrypoints.workflow import traces_of
from smartcity_th.services.console.flow import pipeline, stage_diagram
from smartcity_th.services.console.records import describe
from smartcity_th.services.console.views import chronological, dead_letter, delivery, registry, row
from tests.unit.test_console_chain import certification
from tests.unit.test_console_flow import CONTENT, MEETING, NOW, entry
from tests.unit.test_openapi_documents import document, operations

TOPICS = Topics("")


def sealed(records: list[Record]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    prev = GENESIS
    for i, record in enumerate(records, start=1):
        e = seal(
            seq=i,
            prev_hash=prev,
            proposal_id=None,
            proposal_seq=1,
            proposal_prev_hash=GENESIS,
            content=describe(record, TOPICS, None, NOW),
        )
        prev = e["hash"]
        out.append(e)
    return out


def letter_record() -> Record:
    letter = DeadLetter(
        dead_letter_id=str(uuid.uuid4()),
        consumer="svc-approvals",
        topic="smartcity.intake",
        partition=0,
        offset=12,
        key_b64=None,
        value_b64=base64.b64encode(b"{not json").decode(),
        headers={"smartcity-producer": "lg-phuket-city"},
        error_kind="invalid",
        error="not JSON",
        event_type=None,
        event_id=None,
        attempts=1,
        dead_lettered_at=NOW,
        value_truncated=False,
    )
    return Record("smartcity.deadletter", 0, 3, None, letter.model_dump_json().encode(), ())


def test_event_rows_stored_entries_and_the_registry_match_their_models() -> None:
    entries = sealed(
        [
            certification("p-1", "SCT-2565-0001", "83"),
            certification("p-2", "SCT-2565-0002", "40"),
            Record("smartcity.intake", 0, 1, b"p-x1", b"{not json", ()),
            letter_record(),
        ]
    )
    rows = TypeAdapter(list[r.EventRow]).validate_python(chronological(entries))
    assert {row.kind for row in rows} == {"event", "raw", "deadletter"}
    TypeAdapter(list[r.AuditEntry]).validate_python(entries)
    reg = r.Registry.model_validate(registry(entries))
    assert reg.area_count == 2
    assert reg.areas[0].status_en is not None
    letter = next(e for e in entries if e["kind"] == "deadletter")
    view = r.DeadLetterView.model_validate(
        dead_letter(letter, [{"replayed_by": "depa (somchai)", "at": NOW}])
    )
    assert view.replays[0].at == NOW.isoformat()


def test_pipeline_stages_deliveries_and_traces_match_their_models() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    entries = [
        entry(1, "ProposalSubmitted", "submitted", "P-1", content=CONTENT),
        entry(
            2,
            "NotificationSent",
            None,
            "P-1",
            about_event_id="e1",
            about_event_type="ProposalSubmitted",
            recipient_id="lg-phuket-city",
            recipient_email="a@x.th",
            message_id="<m1@x.th>",
            attempts=1,
        ),
        entry(3, "ProposalScreened", "screened", "P-1"),
        entry(4, "SubcommitteeApproved", "subcommittee_approved", "P-1", meeting=MEETING),
        entry(5, "ProposalSubmitted", "submitted", "P-2", content=CONTENT),
        entry(6, "RevisionRequested", "revision_requested", "P-2", respond_by="2026-11-15"),
        entry(
            7,
            "NotificationFailed",
            None,
            "P-2",
            about_event_id="e6",
            recipient_id="lg-x",
            attempts=3,
            error="550 no such user",
        ),
    ]
    for e in entries:
        body = json.loads(e["body"])
        body["headers"] = {"traceparent": traceparent}
        e["body"] = json.dumps(body)
    p = r.Pipeline.model_validate(pipeline(entries, NOW))
    assert p.total == 2
    diagram = r.StageDiagram.model_validate(stage_diagram(entries[:4]))
    assert {s.state for s in diagram.steps} == {"done", "current", "ahead"}
    assert diagram.steps[-1].event_type is None  # a stage ahead has names only
    sent = TypeAdapter(list[r.Delivery]).validate_python([delivery(e) for e in entries[1::5]])
    assert [d.status for d in sent] == ["sent", "failed"]
    links = TypeAdapter(list[r.TraceLink]).validate_python(
        traces_of([row(e) for e in entries], "http://127.0.0.1:16686")
    )
    assert links[0].trace_id == "0af7651916cd43dd8448eb211c80319c"


def test_a_model_refuses_a_field_it_does_not_name() -> None:
    """A field added to a view fails here (and in schemathesis) until its model names it."""
    lag = {"group": "g", "topic": "t", "partition": 0, "committed": 1, "end": 3, "lag": 2}
    r.LagRow.model_validate(lag)
    with pytest.raises(ValidationError, match="extra"):
        r.LagRow.model_validate(lag | {"lag_seconds": 4})
    assert r.LagRow.model_json_schema()["additionalProperties"] is False


def test_every_json_operation_of_the_console_declares_its_answer() -> None:
    spec = document("console")
    untyped = [
        f"{method} {path}"
        for method, path, op in operations(spec)
        for status, response in op["responses"].items()
        if status.startswith("2")
        for media, content in response.get("content", {}).items()
        if media == "application/json" and not content.get("schema")
    ]
    assert not untyped, untyped
    json_operations = [
        path
        for _m, path, op in operations(spec)
        if "application/json" in op["responses"]["200"].get("content", {})
    ]
    assert len(json_operations) >= 15
    stream = spec["paths"]["/api/events/stream"]["get"]["responses"]["200"]["content"]
    assert list(stream) == ["text/event-stream"]
