"""The console's workflow views (pure): pipeline, one proposal's stages, the tile map; and the
trace-context carrier that the outbox stores."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from smartcity_th.contracts.reference import provinces
from smartcity_th.services.common import telemetry
from smartcity_th.services.console.flow import (
    LANE_TOP,
    lane_page,
    lane_pages,
    lane_summary,
    pipeline,
    pipeline_docs,
    pipeline_of,
    stage_diagram,
    tile_map,
    waterfall,
)
from smartcity_th.services.console.responses import Pipeline, PipelineLane

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def entry(seq: int, event_type: str, stage: str | None, pid: str, **payload: Any) -> dict[str, Any]:
    at = payload.pop("at", "2026-11-01T00:00:00+00:00")
    env = {
        "event_id": f"e{seq}",
        "event_type": event_type,
        "proposal_id": pid,
        "occurred_at": at,
        "payload": payload,
    }
    return {
        "seq": seq,
        "kind": "event",
        "event_type": event_type,
        "stage": stage,
        "proposal_id": pid,
        "occurred_at": at,
        "body": json.dumps({"envelope": env}),
    }


CONTENT = {
    "area_name": {"th": "ภูเก็ต", "en": "Phuket"},
    "province": {"code": "83", "name_th": "ภูเก็ต", "name_en": "Phuket"},
}
MEETING = {"meeting_id": "1/2565", "held_on": "2022-08-06", "chair": {"th": "ประธาน", "en": "C"}}


def test_pipeline_counts_stages_waits_and_overdue() -> None:
    entries = [
        entry(1, "ProposalSubmitted", "submitted", "P-1", content=CONTENT),
        entry(2, "ProposalSubmitted", "submitted", "P-2", content=CONTENT),
        entry(
            3,
            "RevisionRequested",
            "revision_requested",
            "P-2",
            respond_by="2026-11-15",
            at="2026-11-10T00:00:00+00:00",
        ),
        entry(4, "ProposalSubmitted", "submitted", "P-3", content=CONTENT, at="2026-11-29T06:00"),
        entry(5, "NotificationSent", None, "P-3", about_event_id="e4"),
    ]
    p = pipeline(entries, NOW)
    stages = {s["stage"]: s for s in p["stages"]}
    assert stages["submitted"]["count"] == 2
    assert stages["submitted"]["longest"]["en"] == "29 d"  # P-1, longest first
    assert [i["proposal_id"] for i in stages["submitted"]["proposals"]] == ["P-1", "P-3"]
    assert stages["revision_requested"]["count"] == 1
    assert stages["revision_requested"]["overdue"] == 1
    assert stages["revision_requested"]["proposals"][0]["area_th"] == "ภูเก็ต"
    assert p["total"] == 3
    assert p["overdue"] == 1
    assert stages["certified"]["count"] == 0


def test_stage_diagram_has_decisions_emails_and_what_is_ahead() -> None:
    entries = [
        entry(1, "ProposalSubmitted", "submitted", "P-1", content=CONTENT),
        entry(2, "NotificationSent", None, "P-1", about_event_id="e1", recipient_email="a@x.th"),
        entry(3, "ProposalScreened", "screened", "P-1"),
        entry(4, "SubcommitteeApproved", "subcommittee_approved", "P-1", meeting=MEETING),
        entry(5, "NotificationFailed", None, "P-1", about_event_id="e4", recipient_id="depa"),
    ]
    d = stage_diagram(entries)
    steps = d["steps"]
    assert [s["stage"] for s in steps] == [
        "submitted",
        "screened",
        "subcommittee_approved",
        "steering_acknowledged",
        "cabinet_endorsed",
        "certified",
    ]
    assert [s["state"] for s in steps[:4]] == ["done", "done", "current", "ahead"]
    assert steps[0]["emails"] == [
        {"status": "sent", "to": "a@x.th", "recipient_id": None, "error": None}
    ]
    assert steps[2]["decision"]["meeting_id"] == "1/2565"
    assert steps[2]["decision"]["date"] == "2022-08-06"
    assert steps[2]["emails"][0]["status"] == "failed"
    assert d["current"]["en"] == "Approved by the subcommittee"


def test_tile_map_places_all_77_provinces_once() -> None:
    m = tile_map([{"province_code": "10", "areas": 3}, {"province_code": "83", "areas": 1}])
    tiles = m["tiles"]
    assert len(tiles) == len(provinces()) == 77
    assert len({(t["row"], t["col"]) for t in tiles}) == 77
    by_code = {t["code"]: t for t in tiles}
    assert by_code["10"]["level"] == 3
    assert by_code["83"]["level"] == 1
    assert by_code["50"]["level"] == 0
    # North above south: Chiang Rai is on the top row, Narathiwat on the bottom one.
    assert by_code["57"]["row"] == 0
    assert by_code["96"]["row"] == m["rows"] - 1


def test_a_captured_trace_context_is_restored_later() -> None:
    tracer = TracerProvider().get_tracer("test")
    assert telemetry.capture() == {}  # nothing traced: nothing stored
    with tracer.start_as_current_span("request") as span:
        carrier = telemetry.capture()
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert telemetry.trace_id_of(carrier["traceparent"]) == trace_id
    with telemetry.restored(carrier):
        assert trace.get_current_span().get_span_context().trace_id == int(trace_id, 16)
    assert not trace.get_current_span().get_span_context().is_valid
    assert telemetry.trace_id_of("garbage") is None
    assert telemetry.trace_id_of(None) is None


def test_waterfall_orders_spans_as_a_tree() -> None:
    def span(sid: str, parent: str | None, start: int, dur: int, proc: str, op: str) -> Any:
        refs = [{"refType": "CHILD_OF", "spanID": parent}] if parent else []
        return {
            "spanID": sid,
            "references": refs,
            "startTime": start,
            "duration": dur,
            "processID": proc,
            "operationName": op,
            "tags": [{"key": "smartcity.event_type", "value": "ProposalSubmitted"}],
        }

    trace_doc = {
        "traceID": "a" * 32,
        "processes": {"p1": {"serviceName": "proposals"}, "p2": {"serviceName": "notifications"}},
        "spans": [
            span("c", "b", 1_500, 400, "p2", "smtp send"),
            span("a", None, 1_000, 1_000, "p1", "POST /proposals"),
            span("b", "a", 1_200, 800, "p2", "smartcity.proposals process"),
        ],
    }
    w = waterfall(trace_doc)
    assert [(r["span_id"], r["depth"]) for r in w["rows"]] == [("a", 0), ("b", 1), ("c", 2)]
    assert w["rows"][0]["x_pct"] == 0
    assert w["rows"][0]["w_pct"] == 100
    assert w["rows"][2]["x_pct"] == 50
    assert w["services"] == ["notifications", "proposals"]


def test_background_database_polls_start_no_trace() -> None:
    from opentelemetry.sdk.trace.sampling import Decision, ParentBased
    from opentelemetry.trace import SpanKind

    sampler = ParentBased(root=telemetry._NoLoneDatabaseCalls())
    lone = sampler.should_sample(None, 1, "smartcity_notifications.find", SpanKind.CLIENT)
    assert lone.decision is Decision.DROP
    smtp = sampler.should_sample(None, 1, telemetry.SMTP_SPAN, SpanKind.CLIENT)
    assert smtp.decision is Decision.RECORD_AND_SAMPLE
    request = sampler.should_sample(None, 1, "POST /proposals", SpanKind.SERVER)
    assert request.decision is Decision.RECORD_AND_SAMPLE


def test_a_timeline_is_in_the_order_things_happened_not_the_order_they_were_read() -> None:
    """The console reads each topic on its own: an email's NotificationSent can reach the
    audit log before the ProposalSubmitted that caused it. The timeline puts the cause first;
    a dead letter (no event time) sits where it was recorded; equal times keep log order."""
    from smartcity_th.services.console.views import chronological

    pid = "prop-83-phuket"
    sent = entry(1, "NotificationSent", None, pid, at="2026-11-01T00:00:02+00:00")
    submitted = entry(2, "ProposalSubmitted", "submitted", pid, at="2026-11-01T00:00:00+00:00")
    screened = entry(3, "ProposalScreened", "screened", pid, at="2026-11-01T00:00:05+00:00")
    same_time = entry(4, "NotificationSent", None, pid, at="2026-11-01T00:00:05+00:00")
    letter = {
        "seq": 5,
        "kind": "deadletter",
        "proposal_id": pid,
        "occurred_at": None,
        "body": json.dumps({"kind": "deadletter", "recorded_at": "2026-11-01T00:00:03+00:00"}),
    }
    rows = chronological([sent, submitted, screened, same_time, letter])
    assert [r["seq"] for r in rows] == [2, 1, 5, 3, 4]


def test_pipeline_and_stages_follow_when_things_happened_not_when_they_were_read() -> None:
    """A RevisionRequested read (from the decisions topic) before the ProposalSubmitted it
    follows (from the proposals topic) still leaves the proposal at revision_requested, overdue;
    in log order the late-read submission put it back at submitted."""
    pid = "P-late"
    revision = entry(
        1,
        "RevisionRequested",
        "revision_requested",
        pid,
        respond_by="2024-01-31",
        at="2026-11-01T00:00:05+00:00",
    )
    submitted = entry(
        2, "ProposalSubmitted", "submitted", pid, content=CONTENT, at="2026-11-01T00:00:00+00:00"
    )
    stages = {s["stage"]: s for s in pipeline([revision, submitted], NOW)["stages"]}
    assert stages["revision_requested"]["count"] == 1
    assert stages["revision_requested"]["overdue"] == 1
    assert stages["submitted"]["count"] == 0
    assert stages["revision_requested"]["proposals"][0]["area_en"] == "Phuket"
    diagram = stage_diagram([revision, submitted])
    assert [s["event_type"] for s in diagram["steps"] if s["state"] != "ahead"] == [
        "ProposalSubmitted",
        "RevisionRequested",
    ]
    assert diagram["current"]["stage"] == "revision_requested"


def test_a_delivery_deadline_from_history_is_not_overdue_in_the_pipeline() -> None:
    """One rule for history (contracts.certificate.deadline_is_history), as the registry and
    the reminders apply it: the demo's 2021 areas, awarded and recorded today with a deadline
    of 24 December 2023, are certified and not overdue; an area recorded in time whose
    deadline then passed is overdue."""
    award = {
        "certificate_number": "SCT-2564-0001",
        "area_name": {"th": "ภูเก็ต", "en": "Phuket"},
        "validity": {"valid_from": "2021-12-24", "deliver_by": "2023-12-24"},
    }
    entries = [
        entry(1, "ProposalSubmitted", "submitted", "P-old", content=CONTENT),
        entry(2, "CertificationAwarded", "certified", "P-old", **award),
        entry(3, "ProposalSubmitted", "submitted", "P-new", content=CONTENT, at="2021-12-01T00:00"),
        entry(4, "CertificationAwarded", "certified", "P-new", at="2022-01-05T00:00", **award),
    ]
    p = pipeline(entries, NOW)
    certified = {i["proposal_id"]: i for s in p["stages"] for i in s["proposals"]}
    assert certified["P-old"]["overdue"] is False  # recorded after its deadline: history
    assert certified["P-new"]["overdue"] is True  # known in time, not delivered
    # With the go-live after the deadline, both are history.
    later = pipeline(entries, NOW, go_live=dt.date(2024, 1, 1))
    assert later["overdue"] == 0


def test_a_lone_surrogate_in_a_stored_record_is_shown_not_a_server_error() -> None:
    from smartcity_th.services.console.views import displayable

    page = displayable("<td>x\ud800y</td>")
    assert page == "<td>x\ufffdy</td>"
    page.encode("utf-8")  # sendable


def many_proposals(n: int) -> list[dict[str, Any]]:
    """`n` proposals submitted on different days; every third sent back for revision with a
    deadline around today (some passed, some not)."""
    entries: list[dict[str, Any]] = []
    for k in range(n):
        pid = f"P-{k:03d}"
        at = NOW - dt.timedelta(days=k, hours=k % 5)
        entries.append(
            entry(
                len(entries) + 1,
                "ProposalSubmitted",
                "submitted",
                pid,
                content=CONTENT,
                at=at.isoformat(),
            )
        )
        if k % 3 == 0:
            respond_by = (NOW.date() + dt.timedelta(days=k % 7 - 3)).isoformat()
            entries.append(
                entry(
                    len(entries) + 1,
                    "RevisionRequested",
                    "revision_requested",
                    pid,
                    respond_by=respond_by,
                    at=(at + dt.timedelta(hours=1)).isoformat(),
                )
            )
    return entries


def shards_of(docs: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    by_shard: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for doc in docs:
        by_shard[doc["shard"]].append(doc)
    return by_shard


def test_the_pipeline_from_the_shards_summaries_is_the_pipeline_of_every_entry() -> None:
    """What the console stores (a summary per shard, each with its longest-waiting 20 per
    stage) merges into the same counts, overdue counts, longest waits and longest-waiting
    proposals as folding every entry at once."""
    entries = many_proposals(90)
    whole = pipeline(entries, NOW)
    summaries = [lane_summary(docs) for docs in shards_of(pipeline_docs(entries)).values()]
    assert len(summaries) > 10
    merged = Pipeline.model_validate(pipeline_of(summaries, NOW)).model_dump()
    assert (merged["total"], merged["overdue"]) == (whole["total"], whole["overdue"])
    assert merged["overdue"] > 0
    for a, b in zip(whole["stages"], merged["stages"], strict=True):
        assert (a["stage"], a["count"], a["overdue"], a["longest"]) == (
            b["stage"],
            b["count"],
            b["overdue"],
            b["longest"],
        )
        assert b["proposals"] == a["proposals"][:LANE_TOP]
        assert b["more"] == (a["count"] > LANE_TOP)
    assert merged["stages"][0]["more"] is True  # 60 submitted, 20 listed


def test_overdue_is_counted_on_the_day_the_pipeline_is_read() -> None:
    """The summaries count proposals per due date, not per "overdue": the same stored
    summary says more are overdue as the days pass, without reading the proposals again."""
    summary = lane_summary(pipeline_docs(many_proposals(30)))
    overdue = [
        pipeline_of([summary], NOW + dt.timedelta(days=d))["overdue"] for d in (-10, 0, 1, 10)
    ]
    assert overdue[0] == 0
    assert overdue == sorted(overdue)
    assert overdue[-1] == 10  # every revision deadline passed


def test_a_proposal_s_document_does_not_depend_on_the_order_or_repetition_of_its_events() -> None:
    """Folding the log again (a redelivery, another console instance, a record read out of
    order) gives the same document: an event older than what the document holds changes
    nothing."""
    pid = "P-order"
    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    events: list[tuple[str, str, dict[str, Any]]] = [
        ("ProposalSubmitted", "submitted", {"content": CONTENT}),
        ("ProposalScreened", "screened", {}),
        ("RevisionRequested", "revision_requested", {"respond_by": "2026-11-20"}),
        ("ProposalResubmitted", "submitted", {"content": CONTENT}),
        ("ProposalScreened", "screened", {}),
    ]
    entries = [
        entry(k + 1, t, stage, pid, at=(at + dt.timedelta(days=k)).isoformat(), **payload)
        for k, (t, stage, payload) in enumerate(events)
    ]
    expected = pipeline_docs(entries)
    assert [(d["stage"], d["seq"], d["area_en"]) for d in expected] == [("screened", 5, "Phuket")]
    rng = random.Random(26)
    for _ in range(30):
        delivered = entries + rng.sample(entries, 3)
        rng.shuffle(delivered)
        assert pipeline_docs(delivered) == expected
    # What it held before the last screening: the fold of the entries up to it.
    assert pipeline_docs(entries[:3])[0]["due"] == {
        "kind": "revision",
        "date": "2026-11-20",
        "recorded_on": None,
    }


def test_a_stage_is_paged_through_once_each_page_longest_wait_first() -> None:
    entries = many_proposals(90)
    by_shard = shards_of(pipeline_docs(entries))
    summaries = [{**lane_summary(docs), "_id": shard} for shard, docs in by_shard.items()]
    shards = lane_pages(summaries, "submitted")
    seen: list[str] = []
    page: int | None = 0
    while page is not None:
        lane = PipelineLane.model_validate(
            lane_page(by_shard[shards[page]], "submitted", page, len(shards), NOW)
        )
        assert lane.proposals, "a page with nothing on it"
        waits = [p.waited.seconds for p in lane.proposals if p.waited]
        assert waits == sorted(waits, reverse=True)
        seen += [p.proposal_id for p in lane.proposals]
        assert lane.prev_page == (page - 1 if page else None)
        page = lane.next_page
    submitted = next(s for s in pipeline(entries, NOW)["stages"] if s["stage"] == "submitted")
    assert sorted(seen) == sorted(p["proposal_id"] for p in submitted["proposals"])
    assert len(seen) == submitted["count"] == 60
    past = lane_page([], "submitted", len(shards), len(shards), NOW)
    assert (past["proposals"], past["next_page"], past["prev_page"]) == ([], None, len(shards) - 1)
