"""Pure shaping of stored audit entries for people: filters, rows, timeline, registry, emails."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from smartcity_th.contracts.agencies import Agency
from smartcity_th.contracts.approvals import DATED_DECISIONS, decided_on
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.certificate import (
    LIFECYCLE_EVENTS,
    Certificate,
    CertificateStatus,
    Period,
    Recorded,
    Report,
    ReportState,
    fold,
    status,
)
from smartcity_th.contracts.common import AgencyKind, BilingualText, service_principal
from smartcity_th.contracts.envelope import EnvelopeError, parse_record
from smartcity_th.contracts.reference import UnknownProvince, province
from smartcity_th.contracts.workflow import event_name, stage_name
from smartcity_th.services.common.telemetry import trace_id_of

REPLAY_AGENCY_KINDS = frozenset({AgencyKind.DEPA})
# Who may use the console at all (every page and API). It shows every agency's proposals,
# recipients' addresses and the raw bytes of refused records, so it is for the operators of the
# workflow only; an applicant follows its own proposals through the proposals and approvals APIs,
# which already scope what they show to the owner (docs/console.md).
CONSOLE_AGENCY_KINDS = frozenset({AgencyKind.DEPA, AgencyKind.DES_SUBCOMMITTEE, AgencyKind.SYSTEM})
REPLAY_AGENCY_IDS = frozenset({service_principal("console")})
_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def may_replay(agency: Agency) -> bool:
    """Operators who may replay dead letters: depa and the console's own service key."""
    return agency.kind in REPLAY_AGENCY_KINDS or agency.agency_id in REPLAY_AGENCY_IDS


def may_use_console(agency: Agency) -> bool:
    return agency.kind in CONSOLE_AGENCY_KINDS


class BadFilter(ValueError):
    pass


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """`10m`, `2h`, `1d` before now, or an ISO date/time (UTC when no zone is given)."""
    m = _RELATIVE.match(text.strip())
    if m:
        return now - dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadFilter(f"--since {text!r}: give 10m, 2h, 1d or an ISO date/time") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Filters:
    proposal: str | None = None
    type: str | None = None
    producer: str | None = None
    province: str | None = None
    agency: str | None = None
    since: dt.datetime | None = None
    kind: str | None = None

    def query(self) -> dict[str, Any]:
        q: dict[str, Any] = {}
        if self.proposal:
            q["proposal_id"] = self.proposal
        if self.type:
            q["event_type"] = self.type
        if self.producer:
            q["producer"] = self.producer
        if self.province:
            try:
                q["province_code"] = province(self.province).code
            except UnknownProvince as exc:
                raise BadFilter(str(exc)) from None
        if self.agency:
            q["agency"] = self.agency
        if self.kind:
            q["kind"] = self.kind
        if self.since:
            q["recorded_at"] = {"$gte": self.since.astimezone(dt.UTC).isoformat()}
        return q

    def params(self) -> dict[str, str]:
        out = {
            k: str(v)
            for k, v in (
                ("proposal", self.proposal),
                ("type", self.type),
                ("producer", self.producer),
                ("province", self.province),
                ("agency", self.agency),
            )
            if v
        }
        if self.since:
            out["since"] = self.since.isoformat()
        return out


def body(entry: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(entry["body"]))


def province_label(code: str | None) -> str:
    if not code:
        return ""
    try:
        p = province(code)
    except UnknownProvince:
        return code
    return f"{p.name_th} ({p.name_en})"


def decision_date(envelope: Mapping[str, Any] | None) -> str | None:
    """The date a recorded decision was taken (meeting, Cabinet resolution, award), as the
    agencies date it; None for anything else. The rule is contracts.approvals.decided_on."""
    if not envelope or envelope.get("event_type") not in DATED_DECISIONS:
        return None
    try:
        parsed = parse_record(json.dumps(envelope).encode("utf-8"))
    except EnvelopeError:
        return None
    decided = decided_on(parsed.payload)
    return decided.isoformat() if decided else None


def names(event_type: str | None, stage: str | None) -> dict[str, Any]:
    """The Thai and English names people read for an event type and a stage."""
    return {
        "event_name": event_name(event_type).model_dump() if event_type else None,
        "stage_name": stage_name(stage).model_dump() if stage else None,
    }


def row(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One line of the event log: codes for filtering, names for reading, and the date the
    decision was taken where the event is a dated decision."""
    b = body(entry)
    return {
        **names(entry.get("event_type"), entry.get("stage")),
        "decided_on": decision_date(b.get("envelope")),
        "seq": entry["seq"],
        "kind": entry.get("kind"),
        "topic": entry.get("topic"),
        "event_type": entry.get("event_type")
        or ("(unreadable)" if b.get("kind") == "raw" else None),
        "stage": entry.get("stage"),
        "producer": entry.get("producer"),
        "proposal_id": entry.get("proposal_id"),
        "agency": entry.get("agency"),
        "province_code": entry.get("province_code"),
        "province": province_label(entry.get("province_code")),
        "occurred_at": entry.get("occurred_at"),
        "recorded_at": b.get("recorded_at"),
        "summary": b.get("summary", ""),
        "dead_letter_id": entry.get("dead_letter_id"),
        "error": entry.get("error"),
        "hash": entry.get("hash"),
        "trace_id": trace_id_of((b.get("headers") or {}).get("traceparent")),
    }


def chronological(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One proposal's rows in the order things happened: by when each event occurred (a dead
    letter or a raw record: when it was recorded), then in recording order. The console reads
    each topic on its own, so the audit log may hold an email's NotificationSent before the
    ProposalSubmitted that caused it; the log keeps that order (its hash chain depends on it),
    the timeline does not."""
    return sorted((row(e) for e in entries), key=happened)


def happened(entry: Mapping[str, Any]) -> tuple[dt.datetime, int]:
    """Sort key for the order things happened (an audit entry or a row): when the event
    occurred (else when it was recorded), then recording order."""
    return (_when(entry), entry["seq"])


def _when(r: Mapping[str, Any]) -> dt.datetime:
    value = r.get("occurred_at") or r.get("recorded_at")
    if value is None:
        return dt.datetime.max.replace(tzinfo=dt.UTC)
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


SHARDS = 64
"""The console's projections (the pipeline's proposals, the registry's certificates) spread
their documents over this many shards, by a hash of their key; each shard has one summary,
recomputed from its documents, and a view reads the summaries rather than every document."""


def shard_of(key: str, shards: int = SHARDS) -> int:
    """The shard of a projection document (stable across processes and releases)."""
    return zlib.crc32(key.encode("utf-8")) % shards


def _day(value: Any) -> dt.date:
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return when.date()


def certificate_doc(cert: Certificate) -> dict[str, Any]:
    """A folded certificate as the registry's projection stores it (`certificate_of` reads it
    back): its statuses are computed when read, since they depend on the day."""
    return {
        "number": cert.number,
        "valid_from": cert.valid_from.isoformat(),
        "renewal_min_progress_percent": cert.renewal_min_progress_percent,
        "periods": [
            {
                "deliver_by": p.deliver_by.isoformat(),
                "recorded_on": p.recorded_on.isoformat(),
                "report": None
                if p.report is None
                else {
                    "progress_percent": p.report.progress_percent,
                    "state": p.report.state.value,
                    "reported_on": p.report.reported_on.isoformat(),
                    "answered_on": _iso_date(p.report.answered_on),
                },
            }
            for p in cert.periods
        ],
        "renewals": cert.renewals,
        "lapsed": None if cert.lapsed is None else cert.lapsed.model_dump(),
    }


def _iso_date(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _on(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def certificate_of(doc: Mapping[str, Any]) -> Certificate:
    """The certificate a projection document holds (`certificate_doc`)."""
    periods = []
    for p in doc["periods"]:
        r = p.get("report")
        report = None
        if r is not None:
            reported = _on(r["reported_on"])
            assert reported is not None
            report = Report(
                int(r["progress_percent"]),
                ReportState(r["state"]),
                reported,
                _on(r.get("answered_on")),
            )
        deliver_by, recorded_on = _on(p["deliver_by"]), _on(p["recorded_on"])
        assert deliver_by is not None
        assert recorded_on is not None
        periods.append(Period(deliver_by, recorded_on, report))
    lapsed = doc.get("lapsed")
    valid_from = _on(doc["valid_from"])
    assert valid_from is not None
    return Certificate(
        str(doc["number"]),
        valid_from,
        int(doc["renewal_min_progress_percent"]),
        tuple(periods),
        int(doc.get("renewals") or 0),
        None if lapsed is None else BilingualText.model_validate(lapsed),
    )


def certificate_docs(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The registry's projection documents these entries make: one per certificate number
    (from its CertificationAwarded), with the certificate folded from its proposal's
    lifecycle events by the rules the approvals service applies (contracts.certificate)."""
    areas: dict[str, dict[str, Any]] = {}
    lifecycle: dict[str, list[Recorded]] = defaultdict(list)
    newest: dict[str, int] = defaultdict(int)
    for entry in sorted(entries, key=happened):
        env = body(entry).get("envelope") or {}
        p = env.get("payload") or {}
        event_type = env.get("event_type")
        if entry.get("kind") != "event" or event_type not in LIFECYCLE_EVENTS:
            continue
        pid = env["proposal_id"]
        newest[pid] = max(newest[pid], int(entry["seq"]))
        lifecycle[pid].append(
            Recorded(EVENTS[event_type].payload.model_validate(p), _day(env["occurred_at"]))
        )
        if event_type != "CertificationAwarded":
            continue
        prov = province(p["province_code"])
        number = p["certificate_number"]
        areas.setdefault(
            number,
            {
                "_id": number,
                "certificate_number": number,
                "proposal_id": pid,
                "shard": shard_of(number),
                "area_th": p["area_name"]["th"],
                "area_en": p["area_name"]["en"],
                "province_code": prov.code,
                "province_th": prov.name_th,
                "province_en": prov.name_en,
                "meeting": p["subcommittee_meeting_id"],
                "valid_from": p["validity"]["valid_from"],
                "deliver_by": p["validity"]["deliver_by"],
            },
        )
    for area in areas.values():
        cert = fold(lifecycle[area["proposal_id"]])
        area["seq"] = newest[area["proposal_id"]]
        area["certificate"] = None if cert is None else certificate_doc(cert)
    return list(areas.values())


_AREA_FIELDS = (
    "certificate_number",
    "proposal_id",
    "area_th",
    "area_en",
    "province_code",
    "province_th",
    "province_en",
    "meeting",
    "valid_from",
    "deliver_by",
)


def registry_area(doc: Mapping[str, Any], day: dt.date, go_live: dt.date | None) -> dict[str, Any]:
    """A certified area as the registry lists it, with its status as of `day`."""
    area = {k: doc[k] for k in _AREA_FIELDS}
    if doc.get("certificate") is not None:
        area.update(status(certificate_of(doc["certificate"]), day, go_live).as_dict())
    return area


_LAPSED = BilingualText(th="สิ้นสภาพ", en="lapsed")


def status_key(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What a certificate's status on any day depends on (`status_on`)."""
    c = doc.get("certificate")
    if c is None:
        return {"certified": False}
    current = c["periods"][-1]
    report = current.get("report") or {}
    return {
        "certified": True,
        "lapsed": c.get("lapsed") is not None,
        "renewed": bool(c.get("renewals")),
        "deliver_by": current["deliver_by"],
        "recorded_on": current["recorded_on"],
        "acknowledged": report.get("state") == ReportState.ACKNOWLEDGED.value,
    }


def status_on(key: Mapping[str, Any], day: dt.date, go_live: dt.date | None) -> str:
    """The status of every certificate with this `status_key` as of `day`, by the one rule
    (contracts.certificate.status) applied to a certificate with just those facts."""
    if not key.get("certified"):
        return CertificateStatus.ACTIVE.value
    deliver_by, recorded_on = _on(key["deliver_by"]), _on(key["recorded_on"])
    assert deliver_by is not None
    assert recorded_on is not None
    report = Report(100, ReportState.ACKNOWLEDGED, recorded_on) if key["acknowledged"] else None
    cert = Certificate(
        "",
        recorded_on,
        0,
        (Period(deliver_by, recorded_on, report),),
        1 if key["renewed"] else 0,
        _LAPSED if key["lapsed"] else None,
    )
    return status(cert, day, go_live).status.value


def registry_summary(docs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What a shard's certificates add to the registry: per province how many, and how many
    share each `status_key` (their statuses are counted on the day the registry is read)."""
    counts: dict[str, dict[str, Any]] = {}
    for doc in docs:
        prov = counts.setdefault(
            doc["province_code"],
            {
                "province_code": doc["province_code"],
                "province_th": doc["province_th"],
                "province_en": doc["province_en"],
                "areas": 0,
                "keys": {},
            },
        )
        prov["areas"] += 1
        key = status_key(doc)
        name = json.dumps(key, sort_keys=True)
        prov["keys"].setdefault(name, {**key, "n": 0})["n"] += 1
    return {
        "provinces": [
            {**p, "keys": [p["keys"][k] for k in sorted(p["keys"])]}
            for _, p in sorted(counts.items())
        ]
    }


WHOLE_REGISTRY = 500
"""Up to this many certified areas, the registry lists them all; past it, one province's at a
time (its counts, map and statuses are always whole)."""


def registry_of(
    summaries: Iterable[Mapping[str, Any]],
    areas: Iterable[Mapping[str, Any]] | None,
    province_filter: str | None = None,
    as_of: dt.date | None = None,
    go_live: dt.date | None = None,
) -> dict[str, Any]:
    """The registry from the shards' summaries (`registry_summary`: the counts per province
    and status) and the certificates to list (`areas`: projection documents, those of the
    province asked for; None: not listed, there are too many)."""
    wanted = province(province_filter).code if province_filter else None
    day = as_of or dt.datetime.now(dt.UTC).date()
    per_province: dict[tuple[str, str, str], int] = Counter()
    by_status: Counter[str] = Counter()
    for summary in summaries:
        for p in summary.get("provinces") or []:
            if wanted and p["province_code"] != wanted:
                continue
            per_province[(p["province_code"], p["province_th"], p["province_en"])] += int(
                p["areas"]
            )
            for key in p.get("keys") or []:
                by_status[status_on(key, day, go_live)] += int(key["n"])
    rows = sorted(
        (registry_area(a, day, go_live) for a in areas or []),
        key=lambda a: (a["province_en"], a["area_en"], a["certificate_number"]),
    )
    by_province = [
        {"province_code": c, "province_th": th, "province_en": en, "areas": n}
        for (c, th, en), n in sorted(per_province.items(), key=lambda kv: (-kv[1], kv[0][2]))
        if n
    ]
    return {
        "areas": rows,
        "area_count": sum(p["areas"] for p in by_province),
        "province_count": len(by_province),
        "by_province": by_province,
        "by_status": dict(sorted((k, v) for k, v in by_status.items() if v)),
        "as_of": day.isoformat(),
        "go_live": go_live.isoformat() if go_live else None,
        "areas_listed": areas is not None,
    }


def registry(
    entries: Iterable[Mapping[str, Any]],
    province_filter: str | None = None,
    as_of: dt.date | None = None,
    go_live: dt.date | None = None,
) -> dict[str, Any]:
    """Certified areas from CertificationAwarded events (one per certificate number), each with
    its status as of `as_of` (default today), folded from its lifecycle events by the same
    rules the approvals service applies (contracts.certificate): the projection's rules
    applied to audit entries in one go."""
    wanted = province(province_filter).code if province_filter else None
    docs = certificate_docs(entries)
    listed = [d for d in docs if not wanted or d["province_code"] == wanted]
    return registry_of([registry_summary(docs)], listed, province_filter, as_of, go_live)


NOTIFICATION_STATUS = {
    "NotificationSent": "sent",
    "NotificationFailed": "failed",
    "NotificationHeld": "held for review",
}
"""What each notifications fact says of an email (the console's delivery log)."""


LISTS = ("email", "deadletter")
"""The lists an entry can belong to besides the whole log, each numbered in its own order so
that a page of it is read block by block (services/console/paging.py): the delivery log (every
notifications fact) and the dead letters."""


def list_of(entry: Mapping[str, Any]) -> str | None:
    """Which list an entry (or its content) belongs to, by its stored kind and event type."""
    if entry.get("kind") == "deadletter":
        return "deadletter"
    if entry.get("kind") == "event" and entry.get("event_type") in NOTIFICATION_STATUS:
        return "email"
    return None


@dataclass(frozen=True)
class Listing:
    """What a newest-first list shows: the entries of one of the `LISTS` (or `"all"`, the
    whole log), read block by block, or those a store query selects (a selective one: one
    proposal's), and of those only the ones whose error contains `error` (any case)."""

    query: dict[str, Any]
    list_name: str | None = None
    error: str | None = None

    def keeps(self, entry: Mapping[str, Any]) -> bool:
        return self.error is None or self.error.lower() in (entry.get("error") or "").lower()


def event_log(f: Filters) -> Listing:
    """The event log: the whole log by its blocks, or the entries the filters select."""
    q = f.query()
    return Listing(q) if q else Listing({}, "all")


def deliveries_listing(proposal: str | None = None) -> Listing:
    """The delivery log (every notifications fact), of one proposal or all."""
    if proposal:
        q = {"kind": "event", "event_type": {"$in": sorted(NOTIFICATION_STATUS)}}
        return Listing({**q, "proposal_id": proposal})
    return Listing({"list": "email"}, "email")


def dead_letters_listing(error: str | None = None) -> Listing:
    """The dead letters, those whose error contains `error` (any case) if given."""
    return Listing({"list": "deadletter"}, "deadletter", error or None)


def delivery(entry: Mapping[str, Any]) -> dict[str, Any]:
    env = body(entry).get("envelope") or {}
    p = env.get("payload") or {}
    return {
        "seq": entry["seq"],
        "proposal_id": env.get("proposal_id"),
        "status": NOTIFICATION_STATUS.get(str(env.get("event_type")), "failed"),
        "recipient_id": p.get("recipient_id"),
        "recipient_email": p.get("recipient_email"),
        "about_event_type": p.get("about_event_type"),
        "message_id": p.get("message_id"),
        "attempts": p.get("attempts"),
        "error": p.get("error") or "; ".join(p.get("problems") or []) or None,
        "delivery_id": p.get("delivery_id"),
        "at": env.get("occurred_at"),
    }


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def displayable(text: str) -> str:
    """A page as it can be sent: a stored record may hold a lone surrogate (a claim's JSON can
    escape one, \\ud800), which UTF-8 cannot encode; it is shown as U+FFFD."""
    return LONE_SURROGATE.sub("\ufffd", text)


def dead_letter(entry: Mapping[str, Any], replays: list[dict[str, Any]]) -> dict[str, Any]:
    letter = body(entry).get("deadletter") or {}
    return {
        "seq": entry["seq"],
        "dead_letter_id": entry.get("dead_letter_id"),
        "proposal_id": entry.get("proposal_id"),
        "consumer": letter.get("consumer"),
        "topic": letter.get("topic"),
        "partition": letter.get("partition"),
        "offset": letter.get("offset"),
        "error_kind": letter.get("error_kind"),
        "error": letter.get("error"),
        "event_type": letter.get("event_type"),
        "event_id": letter.get("event_id"),
        "attempts": letter.get("attempts"),
        "at": letter.get("dead_lettered_at"),
        "key_b64": letter.get("key_b64"),
        "value_b64": letter.get("value_b64"),
        "headers": letter.get("headers"),
        "replays": [{"replayed_by": r["replayed_by"], "at": _iso(r["at"])} for r in replays],
    }


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


PREVIEW_CHARS = 300
PREVIEW_PARSE_BYTES = 64 * 1024
"""Largest value a preview parses as JSON (to show it compact); a larger one is shown as text,
of which only the start is decoded."""
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Control characters (all but tab and newline) and bidirectional formatting characters: in a
page or a terminal they would hide, reorder or restyle what is around them."""


def visible(text: str, replacement: str | None = None) -> str:
    """`text` with every control and bidirectional formatting character made visible: as its
    escape (`\\u202e`), or as `replacement` (one character keeps the text's length, so that a
    terminal's styles stay where they were)."""
    if replacement is not None:
        return _HIDDEN.sub(replacement, text)
    return _HIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def preview(value_b64: str | None, limit: int = PREVIEW_CHARS) -> str:
    """The start of a stored record's value, for a list of dead letters: compact JSON where it
    is JSON small enough to parse (nesting past what the parser takes is shown as text), else
    its text with invalid UTF-8 replaced; at most `limit` characters, made `visible`. Only the
    start of a large value is decoded (a page lists up to 1,000 values of up to 1 MB)."""
    encoded = value_b64 or ""
    head = encoded[: (PREVIEW_PARSE_BYTES + 2) // 3 * 4 + 4]
    try:
        raw = base64.b64decode(head[: len(head) // 4 * 4])
    except (binascii.Error, ValueError):
        return "(not base64)"
    text = raw.decode("utf-8", errors="replace")
    if len(encoded) <= len(head):
        with contextlib.suppress(ValueError, RecursionError):
            text = json.dumps(json.loads(text), ensure_ascii=False)
    return visible(text[:limit])
