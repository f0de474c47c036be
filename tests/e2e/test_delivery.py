"""After the award, end to end: delivery reports over HTTP and Kafka, depa's answer, renewal
and lapse, the certificate's status in the registry, reminders that stop once a report is
acknowledged, no reminders for history, and bad input refused with a reason."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.approvals import DeliveryReported, ReportSummary, add_years
from smartcity_th.contracts.topics import Topics
from tests.builders import claim
from tests.e2e.approvals_support import http_json, meeting, submitted, wait_stage
from tests.support import (
    Mailpit,
    Namespace,
    ServiceProcess,
    facts,
    poll,
    produce,
    read_topic,
    send_signed_value,
)

pytestmark = pytest.mark.e2e

WHY = {"th": "ความก้าวหน้าตามแผน", "en": "Progress as planned"}


async def certify(
    url: str,
    key: dict[str, str],
    cases: Any,
    pids: list[str],
    valid_from: dict[str, dt.date],
) -> dict[str, str]:
    """Screen, approve, acknowledge, endorse and award each proposal; its certificate number."""
    await wait_stage(cases, pids, "submitted")
    for pid in pids:
        resp = await http_json(
            "POST",
            f"{url}/cases/{pid}/decisions",
            key["depa"],
            json={"event_type": "ProposalScreened", "screened_by": "depa"},
        )
        assert resp.status_code == 201, resp.text
    for body, agency, meeting_id, decision, number in (
        ("subcommittee", "des-subcommittee", "9/2569", "SubcommitteeApproved", None),
        (
            "steering_committee",
            "steering-committee",
            "9/2569",
            "SteeringCommitteeAcknowledged",
            None,
        ),
        ("cabinet", "cabinet-secretariat", "49/2569", "CabinetEndorsed", "นร 0505/ว 9"),
    ):
        m = meeting(body, meeting_id, [(p, decision) for p in pids], number)
        resp = await http_json(
            "POST", f"{url}/meetings", key[agency], json=m.model_dump(mode="json")
        )
        assert resp.json()["counts"] == {"applied": len(pids)}, resp.text
    numbers = {}
    for pid in pids:
        resp = await http_json(
            "POST",
            f"{url}/cases/{pid}/decisions",
            key["depa"],
            json={"event_type": "CertificationAwarded", "valid_from": valid_from[pid].isoformat()},
        )
        assert resp.status_code == 201, resp.text
        doc = await cases.find_one({"_id": pid})
        numbers[pid] = doc["certificate"]["certificate_number"]
    return numbers


def report(number: str, period: dt.date, progress: int = 60) -> dict[str, Any]:
    return {
        "event_type": "DeliveryReported",
        "certificate_number": number,
        "period": period.isoformat(),
        "progress_percent": progress,
        "summary": {"th": "ติดตั้งเซนเซอร์ครบ 40 จุด", "en": "All 40 sensors installed"},
        "links": [{"title": "รายงาน / report", "url": "https://example.go.th/report.pdf"}],
    }


async def test_delivery_reports_answer_the_reminders_and_history_gets_none(
    services: dict[str, ServiceProcess],
    api_keys: dict[tuple[str, str], str],
    ns: Namespace,
    topics: Topics,
    mongo: AsyncMongoClient[dict[str, Any]],
    mailpit: Mailpit,
) -> None:
    url = services["approvals"].url
    key = {agency: k for (service, agency), k in api_keys.items() if service == "approvals"}
    cases = mongo[ns.db("approvals")]["cases"]
    today = dt.datetime.now(dt.UTC).date()
    # due: its deadline is 20 days ahead (a d30 reminder is due today);
    # answered: the same deadline, but its report is acknowledged before the scan;
    # history: its deadline had passed 10 days before the system recorded the award;
    # pending: submitted, never certified.
    due, answered, history, pending = (
        submitted("83", n, applicant="lg-phuket-city") for n in range(4)
    )
    await produce(topics.proposals, [due, answered, history, pending])
    soon = add_years(today + dt.timedelta(days=20), -2)
    valid_from = {
        due.proposal_id: soon,
        answered.proposal_id: soon,
        history.proposal_id: add_years(today - dt.timedelta(days=10), -2),
    }
    numbers = await certify(url, key, cases, list(valid_from), valid_from)
    deadline = today + dt.timedelta(days=20)

    async def decide(pid: str, agency: str, body: dict[str, Any]) -> Any:
        return await http_json("POST", f"{url}/cases/{pid}/decisions", key[agency], json=body)

    async def registry_entry(pid: str) -> dict[str, Any]:
        entries = (await http_json("GET", f"{url}/registry?province=83")).json()
        entry: dict[str, Any] = next(e for e in entries if e["proposal_id"] == pid)
        return entry

    a = answered.proposal_id
    assert (await registry_entry(a))["status"] == "report_due"
    resp = await decide(a, "lg-phuket-city", report(numbers[a], deadline, 40))
    assert resp.status_code == 201, resp.text
    returned = await decide(
        a,
        "depa",
        {
            "event_type": "DeliveryReturned",
            "period": deadline.isoformat(),
            "returned_by": "depa",
            "reasons": {"th": "โปรดแนบหลักฐาน", "en": "Please attach the evidence"},
        },
    )
    assert returned.status_code == 201, returned.text
    resp = await decide(a, "lg-phuket-city", report(numbers[a], deadline, 65))
    assert resp.status_code == 201, resp.text
    ack = {
        "event_type": "DeliveryAcknowledged",
        "period": deadline.isoformat(),
        "acknowledged_by": "depa",
    }
    assert (await decide(a, "depa", ack)).status_code == 201
    entry = await registry_entry(a)
    assert entry["status"] == "active"
    assert entry["report"]["progress_percent"] == 65
    assert entry["report"]["state"] == "acknowledged"

    # The scan as of today: a reminder for the open deadline only.
    scan = await http_json("POST", f"{url}/admin/deadline-scan", key["depa"])
    assert scan.status_code == 200, scan.text
    assert scan.json()["as_of"] == today.isoformat()
    assert "go_live" in scan.json()
    reminders = await facts(
        topics.decisions,
        set(valid_from),
        event_type="DeliveryDeadlineReminder",
        min_records=1,
    )
    assert [(r["proposal_id"], r["payload"]["days_left"]) for r in reminders] == [
        (due.proposal_id, 20)
    ]
    assert (await registry_entry(due.proposal_id))["status"] == "report_due"
    h = await registry_entry(history.proposal_id)
    assert (h["status"], h["history"]) == ("active", True)

    # Renewal (needs the acknowledged report's 65% >= the 50% setting) and lapse.
    renewed = await decide(a, "depa", {"event_type": "CertificationRenewed", "reasons": WHY})
    assert renewed.status_code == 201, renewed.text
    entry = await registry_entry(a)
    assert entry["status"] == "renewed"
    assert entry["deliver_by"] == add_years(deadline, 2).isoformat()
    lapse = {
        "event_type": "CertificationLapsed",
        "reasons": {"th": "ไม่มีรายงานผล", "en": "No delivery report"},
    }
    assert (await decide(history.proposal_id, "des-subcommittee", lapse)).status_code == 201
    assert (await registry_entry(history.proposal_id))["status"] == "lapsed"

    # Over Kafka, the same claim and the same checks: the owner's report becomes a fact.
    on_kafka = claim(
        DeliveryReported(
            certificate_number=numbers[due.proposal_id],
            period=deadline,
            progress_percent=30,
            summary=ReportSummary(th="เริ่มติดตั้งแล้ว", en="Installation started"),
        ),
        "lg-phuket-city",
        due.proposal_id,
    )
    await produce(topics.intake, [on_kafka])
    [fact] = await facts(
        topics.decisions, {due.proposal_id}, event_type="DeliveryReported", min_records=1
    )
    assert fact["producer"] == "lg-phuket-city"
    assert fact["causation_id"] == str(on_kafka.event_id)

    # Emails, Thai first: the report reached depa.
    async def report_mail() -> list[dict[str, Any]] | None:
        found = await mailpit.search(f'subject:"รายงานผลการดำเนินงาน" "{numbers[a]}"')
        return found or None

    mails = await poll(report_mail, timeout=60, what="the delivery report email")
    raw = await mailpit.raw(mails[0]["ID"])
    text = raw.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert text.index("เรียน") < text.index("Dear")
    assert str(raw["Subject"]).startswith("[เมืองอัจฉริยะ]")


async def test_bad_delivery_reports_are_refused_with_a_reason_and_change_nothing(
    services: dict[str, ServiceProcess],
    api_keys: dict[tuple[str, str], str],
    ns: Namespace,
    topics: Topics,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    url = services["approvals"].url
    key = {agency: k for (service, agency), k in api_keys.items() if service == "approvals"}
    cases = mongo[ns.db("approvals")]["cases"]
    today = dt.datetime.now(dt.UTC).date()
    owned, pending = (submitted("83", n, applicant="lg-phuket-city") for n in (10, 11))
    await produce(topics.proposals, [owned, pending])
    pid = owned.proposal_id
    numbers = await certify(url, key, cases, [pid], {pid: today})
    deadline = add_years(today, 2)

    async def decide(proposal_id: str, agency: str, body: dict[str, Any]) -> Any:
        return await http_json(
            "POST", f"{url}/cases/{proposal_id}/decisions", key[agency], json=body
        )

    async def certificate_state() -> tuple[Any, ...]:
        doc = await cases.find_one({"_id": pid})
        assert doc is not None
        accepted = [h["event_id"] for h in doc["history"] if not h["refused"]]
        return doc["stage"], doc["certificate"], accepted

    await poll(lambda: cases.find_one({"_id": pending.proposal_id}), what="the pending case")
    good = report(numbers[pid], deadline)
    assert (await decide(pid, "lg-phuket-city", good)).status_code == 201
    ack = {
        "event_type": "DeliveryAcknowledged",
        "period": deadline.isoformat(),
        "acknowledged_by": "depa",
    }
    assert (await decide(pid, "depa", ack)).status_code == 201
    before = await certificate_state()

    results = {
        "not certified": await decide(pending.proposal_id, "lg-phuket-city", good),
        "not the owner": await decide(pid, "pd-samyan", good),
        "progress 101": await decide(pid, "lg-phuket-city", report(numbers[pid], deadline, 101)),
        "progress -5": await decide(pid, "lg-phuket-city", report(numbers[pid], deadline, -5)),
        "already acknowledged": await decide(pid, "lg-phuket-city", good),
    }
    for what, resp in results.items():
        print(f"{what}: {resp.status_code} {resp.text[:300]}")
    assert {w: r.status_code for w, r in results.items()} == {
        "not certified": 409,
        "not the owner": 403,
        "progress 101": 422,
        "progress -5": 422,
        "already acknowledged": 409,
    }
    assert "is not certified" in results["not certified"].json()["error"]
    assert "own proposals" in results["not the owner"].json()["error"]
    assert "progress_percent" in results["progress 101"].text  # the field, in `errors`
    assert "already acknowledged" in results["already acknowledged"].json()["error"]
    assert all(r.json()["error_th"] for r in results.values())
    assert await certificate_state() == before

    # Over Kafka: the non-owner's claim is dead-lettered with the reason; a percentage out of
    # range is not a valid event at all.
    stranger = claim(
        DeliveryReported(
            certificate_number=numbers[pid],
            period=deadline,
            progress_percent=50,
            summary=ReportSummary(th="ก", en="A"),
        ),
        "pd-samyan",
        pid,
    )
    bad_percent = json.loads(stranger.to_bytes())
    bad_percent["producer"] = "lg-phuket-city"
    bad_percent["event_id"] = "7d1d3b1e-0000-4000-8000-000000000150"
    bad_percent["payload"]["progress_percent"] = 150
    await produce(topics.intake, [stranger])
    # Signed like any claim of the owner: what is refused is the percentage, not the signature
    # (unsigned, the signature gate would refuse it first).
    value = json.dumps(bad_percent).encode()
    await send_signed_value(
        topics.intake, value, pid.encode(), "DeliveryReported", "lg-phuket-city"
    )
    letters = await read_topic(
        topics.deadletter, min_records=2, timeout=30, where=lambda r: r.key == pid.encode()
    )
    dead = {json.loads(r.value)["event_id"]: json.loads(r.value) for r in letters}
    assert dead[str(stranger.event_id)]["error_kind"] == "unauthorised"
    assert "own proposals" in dead[str(stranger.event_id)]["error"]
    assert "progress_percent" in dead[bad_percent["event_id"]]["error"]
    published = await facts(
        topics.decisions, {pid, pending.proposal_id}, event_type="DeliveryReported"
    )
    assert len(published) == 1  # only the good report
    assert await certificate_state() == before
