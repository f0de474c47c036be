"""The audit chain and the console's pure views, without I/O."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from smartcity_th.contracts.approvals import CertificationAwarded, ValidityPeriod
from smartcity_th.contracts.certificate import (
    Certificate,
    Period,
    Report,
    ReportState,
    status,
)
from smartcity_th.contracts.common import BilingualText
from smartcity_th.contracts.envelope import new_envelope
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.record import Record
from smartcity_th.services.console.chain import GENESIS, Verifier, entry_hash, seal
from smartcity_th.services.console.records import describe
from smartcity_th.services.console.views import (
    BadFilter,
    Filters,
    certificate_doc,
    certificate_docs,
    certificate_of,
    parse_since,
    registry,
    registry_of,
    registry_summary,
    status_key,
    status_on,
)

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def build_log(n: int, proposals: tuple[str, ...] = ("p-aaa", "p-bbb")) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = []
    heads: dict[str, tuple[int, str]] = {}
    prev = GENESIS
    for i in range(1, n + 1):
        pid = proposals[i % len(proposals)]
        pseq, phash = heads.get(pid, (0, GENESIS))
        entry = seal(
            seq=i,
            prev_hash=prev,
            proposal_id=pid,
            proposal_seq=pseq + 1,
            proposal_prev_hash=phash,
            content={
                "kind": "event",
                "event_type": "ProposalSubmitted",
                "summary": f"ภูเก็ต #{i}",
                "source": f"t:0:{i}",
            },
        )
        heads[pid] = (pseq + 1, entry["hash"])
        prev = entry["hash"]
        log.append(entry)
    return log


def test_an_untouched_log_verifies() -> None:
    v = Verifier()
    assert v.feed(build_log(10)) is None
    assert v.checked == 10
    assert set(v.proposal_heads) == {"p-aaa", "p-bbb"}


def test_changed_content_is_named_by_sequence_number() -> None:
    log = build_log(8)
    body = json.loads(log[4]["body"])
    body["summary"] = "แก้ไขแล้ว"
    log[4]["body"] = json.dumps(body, ensure_ascii=False)
    broken = Verifier().feed(log)
    assert broken is not None
    assert broken.seq == 5
    assert "hash" in broken.reason


def test_a_rehashed_forgery_breaks_the_next_link() -> None:
    log = build_log(6)
    log[2]["body"] = log[2]["body"].replace("#3", "#X")
    log[2]["hash"] = entry_hash(log[2])
    broken = Verifier().feed(log)
    assert broken is not None
    assert broken.seq == 4
    assert "prev_hash" in broken.reason


def test_a_deleted_entry_and_an_edited_index_field_are_detected() -> None:
    log = build_log(5)
    broken = Verifier().feed(log[:2] + log[3:])
    assert broken is not None
    assert broken.seq == 4
    assert "missing" in broken.reason
    log[1]["event_type"] = "CertificationAwarded"
    broken = Verifier().feed(log)
    assert broken is not None
    assert broken.seq == 2
    assert "event_type" in broken.reason


def certification(pid: str, number: str, province: str) -> Record:
    env = new_envelope(
        CertificationAwarded(
            certificate_number=number,
            area_name=BilingualText(th="ภูเก็ตเมืองอัจฉริยะ", en="Phuket Smart City"),
            province_code=province,
            subcommittee_meeting_id="1/2565",
            validity=ValidityPeriod(valid_from=dt.date(2022, 6, 1), deliver_by=dt.date(2024, 6, 1)),
        ),
        producer="svc-approvals",
        proposal_id=pid,
        occurred_at=dt.datetime(2022, 6, 1, 3, tzinfo=dt.UTC),
    )
    return Record(
        "smartcity.decisions",
        2,
        7,
        pid.encode(),
        env.to_bytes(),
        tuple((k, v.encode()) for k, v in env.headers().items()),
    )


def test_events_raw_records_and_the_registry_are_derived_from_records() -> None:
    topics = Topics("")
    content = describe(certification("p-phuket", "SCT-2565-0001", "83"), topics, None, NOW)
    assert content["kind"] == "event"
    assert content["stage"] == "certified"
    assert content["province_code"] == "83"
    assert content["source"] == "smartcity.decisions:2:7"
    raw = describe(
        Record("smartcity.intake", 0, 1, b"p-x1", b"{not json", ()),
        topics,
        {"province_code": "40", "agency": "lg-khon-kaen-city"},
        NOW,
    )
    assert raw["kind"] == "raw"
    assert "not JSON" in raw["error"]
    assert raw["province_code"] == "40"

    entries = [
        seal(
            seq=i + 1,
            prev_hash=GENESIS,
            proposal_id=pid,
            proposal_seq=1,
            proposal_prev_hash=GENESIS,
            content=describe(certification(pid, num, prov), topics, None, NOW),
        )
        for i, (pid, num, prov) in enumerate(
            [
                ("p-1", "SCT-2565-0001", "83"),
                ("p-2", "SCT-2565-0002", "83"),
                ("p-2", "SCT-2565-0002", "83"),
                ("p-3", "SCT-2565-0003", "40"),
            ]
        )
    ]
    reg = registry(entries)
    assert (reg["area_count"], reg["province_count"]) == (3, 2)
    assert reg["by_province"][0] == {
        "province_code": "83",
        "province_th": "ภูเก็ต",
        "province_en": "Phuket",
        "areas": 2,
    }
    assert registry(entries, "Khon Kaen")["area_count"] == 1
    # Each certificate's status is folded from its events (contracts.certificate).
    area = reg["areas"][0]
    deliver_by = dt.date.fromisoformat(area["deliver_by"])
    assert registry(entries, as_of=deliver_by)["areas"][0]["status"] == "report_due"
    assert registry(entries, as_of=deliver_by + dt.timedelta(days=1))["by_status"] == {"overdue": 3}
    late = registry(
        entries, as_of=deliver_by + dt.timedelta(days=1), go_live=deliver_by + dt.timedelta(days=1)
    )
    assert (late["areas"][0]["status"], late["areas"][0]["history"]) == ("active", True)


def awards(*certs: tuple[str, str, str]) -> list[dict[str, Any]]:
    topics = Topics("")
    return [
        seal(
            seq=i + 1,
            prev_hash=GENESIS,
            proposal_id=pid,
            proposal_seq=1,
            proposal_prev_hash=GENESIS,
            content=describe(certification(pid, num, prov), topics, None, NOW),
        )
        for i, (pid, num, prov) in enumerate(certs)
    ]


def test_the_registry_from_the_shards_summaries_is_the_registry_of_every_entry() -> None:
    """What the console stores (a document per certificate, a summary per shard counting
    provinces and status keys) gives the registry folding every entry gives, on any day and
    with any go-live; past `WHOLE_REGISTRY` areas the areas are not listed, the counts are."""
    entries = awards(
        ("p-1", "SCT-2565-0001", "83"),
        ("p-2", "SCT-2565-0002", "83"),
        ("p-3", "SCT-2565-0003", "40"),
        ("p-4", "SCT-2565-0004", "10"),
    )
    docs = certificate_docs(entries)
    assert len({d["shard"] for d in docs}) > 1
    summaries = [registry_summary([d]) for d in docs]
    deliver_by = dt.date(2024, 6, 1)
    for day in (deliver_by - dt.timedelta(days=200), deliver_by, deliver_by + dt.timedelta(days=1)):
        for go_live in (None, deliver_by + dt.timedelta(days=1)):
            whole = registry(entries, as_of=day, go_live=go_live)
            assert registry_of(summaries, docs, as_of=day, go_live=go_live) == whole
            counted = registry_of(summaries, None, as_of=day, go_live=go_live)
            assert (counted["areas"], counted["areas_listed"]) == ([], False)
            for field in ("area_count", "province_count", "by_province", "by_status"):
                assert counted[field] == whole[field]
            phuket = [d for d in docs if d["province_code"] == "83"]
            one = registry_of(summaries, phuket, "Phuket", as_of=day, go_live=go_live)
            assert one == registry(entries, "Phuket", as_of=day, go_live=go_live)
            assert one["area_count"] == 2


def test_a_certificate_s_status_is_counted_by_the_facts_it_depends_on() -> None:
    """The registry's summaries count certificates by what their status depends on
    (`status_key`), and `status_on` gives the status `contracts.certificate.status` gives the
    certificate itself, for reports, renewals and lapses, on any day."""
    awarded = dt.date(2022, 1, 5)
    first = Period(dt.date(2024, 1, 5), awarded)
    acknowledged = Period(
        dt.date(2024, 1, 5),
        awarded,
        Report(70, ReportState.ACKNOWLEDGED, dt.date(2023, 12, 1), dt.date(2023, 12, 20)),
    )
    pending = Period(
        dt.date(2024, 1, 5), awarded, Report(40, ReportState.PENDING, dt.date(2023, 12, 1))
    )
    renewed = Period(dt.date(2026, 1, 5), dt.date(2024, 2, 1))
    certificates = [
        Certificate("SCT-2565-0001", awarded, 50, (first,)),
        Certificate("SCT-2565-0002", awarded, 50, (acknowledged,)),
        Certificate("SCT-2565-0003", awarded, 50, (pending,)),
        Certificate("SCT-2565-0004", awarded, 50, (acknowledged, renewed), renewals=1),
        Certificate(
            "SCT-2565-0005",
            awarded,
            50,
            (pending,),
            lapsed=BilingualText(th="ไม่ส่งรายงาน", en="no report"),
        ),
    ]
    for cert in certificates:
        stored = json.loads(json.dumps(certificate_doc(cert)))
        assert certificate_of(stored) == cert
        key = status_key({"certificate": stored})
        for day in (
            dt.date(2023, 6, 1),
            dt.date(2023, 11, 1),
            dt.date(2024, 2, 1),
            dt.date(2026, 6, 1),
        ):
            for go_live in (None, dt.date(2024, 3, 1)):
                assert status_on(key, day, go_live) == status(cert, day, go_live).status.value


def test_filters_and_since() -> None:
    assert parse_since("2h", NOW) == NOW - dt.timedelta(hours=2)
    assert parse_since("2026-11-01", NOW) == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with pytest.raises(BadFilter):
        parse_since("yesterday", NOW)
    assert Filters(province="Phuket", type="ProposalSubmitted").query() == {
        "province_code": "83",
        "event_type": "ProposalSubmitted",
    }
    with pytest.raises(BadFilter):
        Filters(province="Atlantis").query()
