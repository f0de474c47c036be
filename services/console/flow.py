"""The workflow as operators look at it: the pipeline (who waits at which stage, and who is
overdue), one proposal's stages as a diagram, and the registry as a tile map of the 77
provinces. Pure shaping of stored audit entries: no I/O, the clock is passed in."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from smartcity_th.contracts.certificate import deadline_is_history
from smartcity_th.contracts.common import Stage
from smartcity_th.contracts.reference import provinces
from smartcity_th.contracts.workflow import OPENING_EVENT, ORDER, TERMINAL, TRANSITIONS
from smartcity_th.contracts.workflow import stage_name as workflow_stage_name
from smartcity_th.services.console.views import NOTIFICATION_STATUS, body, happened, shard_of

THAILAND = dt.timezone(dt.timedelta(hours=7))

TILES_CSV = Path(__file__).resolve().parent / "province_tiles.csv"

STAGE_EVENTS = frozenset({OPENING_EVENT, "ProposalResubmitted", *TRANSITIONS})
"""The events that put a proposal at a stage."""

PIPELINE_ORDER: tuple[Stage, ...] = tuple(Stage)
"""Every stage, in the order of the workflow (returns and ends after the way forward)."""


def stage_name(stage: str | None) -> dict[str, str]:
    """The stage's code and its names for people (contracts.workflow names every stage once)."""
    if not stage or stage not in Stage.__members__.values():
        return {"stage": stage or "", "th": stage or "", "en": stage or ""}
    name = workflow_stage_name(stage)
    return {"stage": stage, "th": name.th, "en": name.en}


def _envelope(entry: Mapping[str, Any]) -> dict[str, Any]:
    return dict(body(entry).get("envelope") or {})


def _when(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    when = dt.datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def waited(since: dt.datetime, now: dt.datetime) -> dict[str, Any]:
    """How long since `since`, for people: days (or hours under a day), Thai and English."""
    seconds = max(0.0, (now - since).total_seconds())
    days = int(seconds // 86400)
    if days >= 1:
        return {"seconds": seconds, "th": f"{days:,} วัน", "en": f"{days:,} d"}
    hours = int(seconds // 3600)
    return {"seconds": seconds, "th": f"{hours} ชั่วโมง", "en": f"{hours} h"}


# ---------------------------------------------------------------- pipeline
LANE_TOP = 20
"""How many proposals of a stage the pipeline lists (longest wait first)."""


def proposal_states(entries: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per proposal, from its stage-setting events in the order they happened (the console
    reads each topic on its own, so the log may hold a decision before the submission it
    follows): the current stage, since when, what it is (area, province) and its deadlines;
    `seq`: the newest entry folded in."""
    states: dict[str, dict[str, Any]] = {}
    for entry in sorted(entries, key=happened):
        if entry.get("kind") != "event" or entry.get("event_type") not in STAGE_EVENTS:
            continue
        env = _envelope(entry)
        pid = env.get("proposal_id") or entry.get("proposal_id")
        if not pid or not entry.get("stage"):
            continue
        payload = env.get("payload") or {}
        state = states.setdefault(
            pid,
            {
                "proposal_id": pid,
                "area_th": "",
                "area_en": "",
                "province_th": "",
                "due": None,
                "seq": 0,
            },
        )
        state["seq"] = max(state["seq"], int(entry["seq"]))
        state["stage"] = entry["stage"]
        state["since"] = _when(env.get("occurred_at") or entry.get("occurred_at"))
        state["event_type"] = entry["event_type"]
        state["due"] = None
        content = payload.get("content")
        if content:
            state["area_th"] = content["area_name"]["th"]
            state["area_en"] = content["area_name"]["en"]
            state["province_th"] = content["province"]["name_th"]
            state["province_en"] = content["province"]["name_en"]
        if entry["event_type"] == "RevisionRequested" and payload.get("respond_by"):
            state["due"] = {"kind": "revision", "date": _date(payload["respond_by"])}
        if entry["event_type"] == "CertificationAwarded":
            state["area_th"] = payload["area_name"]["th"]
            state["area_en"] = payload["area_name"]["en"]
            deliver_by = (payload.get("validity") or {}).get("deliver_by")
            if deliver_by:
                recorded = state["since"]
                state["due"] = {
                    "kind": "delivery",
                    "date": _date(deliver_by),
                    "recorded_on": recorded.astimezone(THAILAND).date() if recorded else None,
                }
    return states


def is_overdue(due: Mapping[str, Any] | None, today: dt.date, go_live: dt.date | None) -> bool:
    """A revision not resubmitted by its date, or a certified area past its delivery date,
    unless that deadline is history (the rule of the registry and the reminders:
    `contracts.certificate.deadline_is_history`)."""
    if not due or not due.get("date") or due["date"] >= today:
        return False
    recorded = due.get("recorded_on")
    return not (
        due["kind"] == "delivery"
        and recorded is not None
        and deadline_is_history(due["date"], recorded, go_live)
    )


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def pipeline_doc(state: Mapping[str, Any]) -> dict[str, Any]:
    """A proposal's state as the projection stores it (the console's `pipeline` collection):
    plain strings, its shard, and `seq`, the newest audit entry it was folded from."""
    pid = str(state["proposal_id"])
    due = state.get("due")
    since = state.get("since")
    return {
        "_id": pid,
        "proposal_id": pid,
        "shard": shard_of(pid),
        "seq": int(state.get("seq") or 0),
        "stage": state["stage"],
        "since": since.astimezone(dt.UTC).isoformat() if since else None,
        "event_type": state["event_type"],
        "area_th": state.get("area_th") or "",
        "area_en": state.get("area_en") or "",
        "province_th": state.get("province_th") or "",
        "province_en": state.get("province_en"),
        "due": None
        if not due
        else {
            "kind": due["kind"],
            "date": _iso(due.get("date")),
            "recorded_on": _iso(due.get("recorded_on")),
        },
    }


def pipeline_docs(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The projection's documents of the proposals these entries are about."""
    return [pipeline_doc(s) for s in proposal_states(entries).values()]


def _wait_order(doc: Mapping[str, Any]) -> tuple[str, str]:
    """Longest wait first (the earliest `since`; one without a time last), then by id."""
    return (doc.get("since") or "~", str(doc["proposal_id"]))


_LANE_FIELDS = (
    "proposal_id",
    "stage",
    "since",
    "event_type",
    "area_th",
    "area_en",
    "province_th",
    "province_en",
    "due",
)


def lane_summary(docs: Iterable[Mapping[str, Any]], top: int | None = LANE_TOP) -> dict[str, Any]:
    """What a shard's proposals add to the pipeline, per stage: how many, how many fall due
    on each date (the overdue count depends on the day it is read: `pipeline_of`), and the
    `top` longest-waiting (all if None)."""
    lanes: dict[str, dict[str, Any]] = {}
    dues: dict[str, dict[tuple[str, str, str | None], int]] = {}
    for doc in docs:
        stage = str(doc["stage"])
        lane = lanes.setdefault(stage, {"stage": stage, "count": 0, "top": []})
        lane["count"] += 1
        lane["top"].append({k: doc.get(k) for k in _LANE_FIELDS})
        due = doc.get("due")
        if due and due.get("date"):
            key = (str(due["kind"]), str(due["date"]), due.get("recorded_on"))
            dues.setdefault(stage, {})[key] = dues.get(stage, {}).get(key, 0) + 1
    for stage, lane in lanes.items():
        lane["top"] = sorted(lane["top"], key=_wait_order)[:top]
        lane["due"] = [
            {"kind": k, "date": d, "recorded_on": r, "n": n}
            for (k, d, r), n in sorted(dues.get(stage, {}).items(), key=str)
        ]
    return {"lanes": [lanes[s] for s in sorted(lanes)]}


def _due_dates(due: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not due:
        return None
    return {
        "kind": due["kind"],
        "date": _date(due.get("date")),
        "recorded_on": _date(due.get("recorded_on")),
    }


def lane_item(doc: Mapping[str, Any], now: dt.datetime, go_live: dt.date | None) -> dict[str, Any]:
    """One proposal as the pipeline lists it: how long it has waited, whether it is overdue."""
    since = _when(doc.get("since"))
    due = doc.get("due")
    return {
        "proposal_id": doc["proposal_id"],
        "area_th": doc.get("area_th") or "",
        "area_en": doc.get("area_en") or "",
        "province_th": doc.get("province_th") or "",
        "province_en": doc.get("province_en"),
        "due": None if not due else {"kind": due["kind"], "date": due.get("date")},
        "stage": doc["stage"],
        "since": since.isoformat() if since else None,
        "event_type": doc["event_type"],
        "waited": waited(since, now) if since else None,
        "overdue": is_overdue(_due_dates(due), now.astimezone(THAILAND).date(), go_live),
    }


def _stage_head(stage: str) -> dict[str, Any]:
    known = stage in Stage.__members__.values()
    return {**stage_name(stage), "terminal": known and Stage(stage) in TERMINAL}


def pipeline_of(
    summaries: Iterable[Mapping[str, Any]],
    now: dt.datetime,
    go_live: dt.date | None = None,
    per_stage: int | None = LANE_TOP,
) -> dict[str, Any]:
    """The pipeline from the shards' summaries (`lane_summary`): per stage how many proposals
    are there now, how many are overdue as of `now` (`is_overdue`, counted per due date), and
    the `per_stage` longest-waiting (all if None), longest first."""
    today = now.astimezone(THAILAND).date()
    lanes: dict[str, dict[str, Any]] = {
        s.value: {"count": 0, "overdue": 0, "top": []} for s in PIPELINE_ORDER
    }
    for summary in summaries:
        for lane in summary.get("lanes") or []:
            into = lanes.setdefault(lane["stage"], {"count": 0, "overdue": 0, "top": []})
            into["count"] += int(lane["count"])
            into["top"] += lane.get("top") or []
            into["overdue"] += sum(
                int(d["n"])
                for d in lane.get("due") or []
                if is_overdue(_due_dates(d), today, go_live)
            )
    stages = []
    for stage, lane in lanes.items():
        items = [
            lane_item(d, now, go_live) for d in sorted(lane["top"], key=_wait_order)[:per_stage]
        ]
        stages.append(
            {
                **_stage_head(stage),
                "count": lane["count"],
                "overdue": lane["overdue"],
                "longest": items[0]["waited"] if items else None,
                "proposals": items,
                "more": lane["count"] > len(items),
            }
        )
    return {
        "as_of": now.isoformat(),
        "stages": stages,
        "total": sum(s["count"] for s in stages),
        "overdue": sum(s["overdue"] for s in stages),
        "per_stage": per_stage,
    }


def pipeline(
    entries: Iterable[Mapping[str, Any]], now: dt.datetime, go_live: dt.date | None = None
) -> dict[str, Any]:
    """How many proposals are at each stage now, how long each has waited there (longest
    first, every one), and which are overdue (`is_overdue`): the projection's rules applied to
    audit entries in one go."""
    return pipeline_of([lane_summary(pipeline_docs(entries), top=None)], now, go_live, None)


def lane_pages(summaries: Iterable[Mapping[str, Any]], stage: str) -> list[int]:
    """The shards that hold proposals at `stage`, in order: the stage's pages."""
    return sorted(
        int(s["_id"])
        for s in summaries
        if any(lane["stage"] == stage and lane["count"] for lane in s.get("lanes") or [])
    )


def lane_page(
    docs: Iterable[Mapping[str, Any]],
    stage: str,
    page: int,
    pages: int,
    now: dt.datetime,
    go_live: dt.date | None = None,
) -> dict[str, Any]:
    """Page `page` (of `pages`) of a stage's proposals: those of one shard that has some
    (`lane_pages`), longest wait first."""
    items = [
        lane_item(d, now, go_live)
        for d in sorted((d for d in docs if d.get("stage") == stage), key=_wait_order)
    ]
    return {
        **_stage_head(stage),
        "page": page,
        "pages": pages,
        "next_page": page + 1 if page + 1 < pages else None,
        "prev_page": min(page, pages) - 1 if page > 0 and pages else None,
        "count": len(items),
        "overdue": sum(1 for i in items if i["overdue"]),
        "proposals": items,
    }


# ---------------------------------------------------------------- one proposal's stages
def _decision(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any] | None:
    meeting = payload.get("meeting")
    if meeting:
        return {
            "meeting_id": meeting["meeting_id"],
            "date": meeting["held_on"],
            "chair_th": (meeting.get("chair") or {}).get("th"),
            "resolution": payload.get("resolution"),
        }
    if event_type in {"CabinetEndorsed", "CabinetReturned"}:
        return {
            "meeting_id": f"มติคณะรัฐมนตรี {payload['resolution_number']}",
            "date": payload["resolution_date"],
            "chair_th": None,
            "resolution": payload.get("resolution"),
        }
    if event_type == "CertificationAwarded":
        return {
            "meeting_id": payload.get("subcommittee_meeting_id"),
            "date": (payload.get("validity") or {}).get("valid_from"),
            "chair_th": None,
            "resolution": payload.get("certificate_number"),
        }
    return None


def stage_diagram(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One proposal's path: each stage it reached (in order, with the event, its date, the
    meeting or resolution that decided it and the emails sent about it), then the stages still
    ahead while it is active."""
    ordered = sorted(entries, key=happened)
    emails: dict[str, list[dict[str, Any]]] = {}
    for entry in ordered:
        if entry.get("kind") != "event" or entry.get("event_type") not in NOTIFICATION_STATUS:
            continue
        p = _envelope(entry).get("payload") or {}
        emails.setdefault(p.get("about_event_id", ""), []).append(
            {
                "status": NOTIFICATION_STATUS[entry["event_type"]],
                "to": p.get("recipient_email") or p.get("recipient_id"),
                "recipient_id": p.get("recipient_id"),
                "error": p.get("error") or "; ".join(p.get("problems") or []) or None,
            }
        )
    steps: list[dict[str, Any]] = []
    for entry in ordered:
        if entry.get("kind") != "event" or entry.get("event_type") not in STAGE_EVENTS:
            continue
        env = _envelope(entry)
        payload = env.get("payload") or {}
        steps.append(
            {
                **stage_name(entry.get("stage")),
                "state": "done",
                "event_type": entry["event_type"],
                "at": env.get("occurred_at") or entry.get("occurred_at"),
                "decision": _decision(entry["event_type"], payload),
                "emails": emails.get(str(env.get("event_id")), []),
                "seq": entry["seq"],
            }
        )
    current = steps[-1]["stage"] if steps else None
    if steps:
        steps[-1]["state"] = "current"
    ahead: list[dict[str, Any]] = []
    if current is not None and Stage(current) not in TERMINAL:
        position = Stage.SUBMITTED if current == Stage.REVISION_REQUESTED else Stage(current)
        start = ORDER.index(position) + 1 if position in ORDER else len(ORDER)
        ahead = [{**stage_name(s.value), "state": "ahead"} for s in ORDER[start:]]
    return {"current": stage_name(current) if current else None, "steps": steps + ahead}


# ---------------------------------------------------------------- tile map
@cache
def _tiles() -> tuple[tuple[str, int, int], ...]:
    with TILES_CSV.open(encoding="utf-8") as f:
        return tuple((r["code"], int(r["row"]), int(r["col"])) for r in csv.DictReader(f))


def tile_map(by_province: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The 77 provinces as tiles on a grid shaped like Thailand, each with its number of
    certified areas and a colour level (0, 1, 2, 3 = three or more)."""
    counts = {p["province_code"]: int(p["areas"]) for p in by_province}
    names = {p.code: p for p in provinces()}
    tiles: list[dict[str, Any]] = []
    for code, row, col in _tiles():
        n = counts.get(code, 0)
        prov = names[code]
        tiles.append(
            {
                "code": code,
                "row": row,
                "col": col,
                "name_th": prov.name_th,
                "name_en": prov.name_en,
                "areas": n,
                "level": min(n, 3),
            }
        )
    return {
        "tiles": tiles,
        "rows": max(row for _, row, _ in _tiles()) + 1,
        "cols": max(col for _, _, col in _tiles()) + 1,
    }


# ---------------------------------------------------------------- one trace, as a waterfall
def waterfall(trace: Mapping[str, Any]) -> dict[str, Any]:
    """A trace from Jaeger's query API (`/api/traces/{id}`, one element of `data`) as rows for
    a waterfall: each span in tree order with its depth, service, operation, offset and length
    (microseconds, and in per cent of the whole trace), and the tags that matter here."""
    spans = list(trace.get("spans") or [])
    processes = trace.get("processes") or {}
    if not spans:
        return {"trace_id": trace.get("traceID"), "rows": [], "services": [], "duration_us": 0}
    start = min(int(s["startTime"]) for s in spans)
    end = max(int(s["startTime"]) + int(s["duration"]) for s in spans)
    total = max(end - start, 1)
    ids = {s["spanID"] for s in spans}
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for s in spans:
        parent = next((r["spanID"] for r in s.get("references") or [] if r["spanID"] in ids), None)
        children.setdefault(parent, []).append(s)
    rows: list[dict[str, Any]] = []

    def visit(parent: str | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda x: int(x["startTime"])):
            tags = {t["key"]: t["value"] for t in s.get("tags") or []}
            offset = int(s["startTime"]) - start
            rows.append(
                {
                    "span_id": s["spanID"],
                    "depth": depth,
                    "service": (processes.get(s["processID"]) or {}).get("serviceName", "?"),
                    "operation": s["operationName"],
                    "offset_us": offset,
                    "duration_us": int(s["duration"]),
                    "x_pct": round(100 * offset / total, 3),
                    "w_pct": round(max(100 * int(s["duration"]) / total, 0.2), 3),
                    "proposal_id": tags.get("smartcity.proposal_id"),
                    "event_type": tags.get("smartcity.event_type"),
                    "error": bool(tags.get("error")) or tags.get("otel.status_code") == "ERROR",
                }
            )
            visit(s["spanID"], depth + 1)

    visit(None, 0)
    services = sorted({r["service"] for r in rows})
    return {
        "trace_id": trace.get("traceID"),
        "rows": rows,
        "services": services,
        "duration_us": total,
        "started_at": dt.datetime.fromtimestamp(start / 1e6, dt.UTC).isoformat(),
    }
