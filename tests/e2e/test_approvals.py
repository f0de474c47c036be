"""The approvals service end to end: real processes on the real Kafka and FerretDB."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.approvals import (
    CertificationAwarded,
    ValidityPeriod,
    add_years,
)
from smartcity_th.contracts.certificate_seal import ISSUER, check_seal
from smartcity_th.contracts.common import BilingualText
from smartcity_th.contracts.signing import SigningKey
from smartcity_th.contracts.topics import Topics
from tests.builders import claim
from tests.e2e.approvals_support import (
    CHAIR,
    PROVINCES_15,
    http_json,
    meeting,
    screened,
    submitted,
    wait_stage,
)
from tests.e2e.test_walking_skeleton import DRAFT, submit
from tests.pdfcheck import (
    A4_POINTS,
    LETTER_FONTS,
    fonts,
    lines_starting_with_a_mark,
    page_sizes,
    poppler,
    squeezed,
)
from tests.support import (
    Mailpit,
    Namespace,
    ServiceProcess,
    facts,
    poll,
    produce,
    signer_for,
)

pytestmark = pytest.mark.e2e


async def test_a_proposal_goes_from_submission_to_certified_and_into_the_registry(
    services: dict[str, ServiceProcess],
    api_keys: dict[tuple[str, str], str],
    ns: Namespace,
    topics: Topics,
    mongo: AsyncMongoClient[dict[str, Any]],
    mailpit: Mailpit,
    tmp_path: Path,
) -> None:
    resp = await submit(services, api_keys[("proposals", "lg-phuket-city")], DRAFT)
    assert resp.status_code == 201, resp.text
    pid = resp.json()["proposal_id"]
    cases = mongo[ns.db("approvals")]["cases"]
    await wait_stage(cases, [pid], "submitted")
    url = services["approvals"].url

    def key(agency: str) -> str:
        return api_keys[("approvals", agency)]

    async def decide(agency: str, body: dict[str, Any]) -> Any:
        return await http_json("POST", f"{url}/cases/{pid}/decisions", key(agency), json=body)

    # Out of order: the Cabinet cannot endorse a proposal depa has not screened.
    early = await decide(
        "cabinet-secretariat",
        {
            "event_type": "CabinetEndorsed",
            "resolution_number": "นร 0505/ว 1",
            "resolution_date": "2022-05-01",
            "resolution": "endorsed",
        },
    )
    assert early.status_code == 409, early.text
    assert early.json()["error"] == (
        "The endorsement by the Cabinet cannot be accepted: the proposal is at the stage "
        "\u201cSubmitted\u201d and depa has not screened it yet."
    )
    assert early.json()["error_th"]

    assert (
        await decide("depa", {"event_type": "ProposalScreened", "screened_by": "depa"})
    ).status_code == 201
    sub = meeting("subcommittee", "1/2565", [(pid, "SubcommitteeApproved")])
    resp = await http_json(
        "POST", f"{url}/meetings", key("des-subcommittee"), json=sub.model_dump(mode="json")
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["counts"] == {"applied": 1}
    steer = meeting("steering_committee", "2/2565", [(pid, "SteeringCommitteeAcknowledged")])
    resp = await http_json(
        "POST", f"{url}/meetings", key("steering-committee"), json=steer.model_dump(mode="json")
    )
    assert resp.json()["counts"] == {"applied": 1}, resp.text
    cab = meeting("cabinet", "20/2565", [(pid, "CabinetEndorsed")], "นร 0505/ว 123")
    resp = await http_json(
        "POST", f"{url}/meetings", key("cabinet-secretariat"), json=cab.model_dump(mode="json")
    )
    assert resp.json()["counts"] == {"applied": 1}, resp.text
    # Valid from today, so the service's own periodic scan has nothing due during the test.
    today = dt.datetime.now(dt.UTC).date()
    deliver_by = add_years(today, 2)
    award = await decide(
        "depa", {"event_type": "CertificationAwarded", "valid_from": today.isoformat()}
    )
    assert award.status_code == 201, award.text
    assert award.json()["stage"] == "certified"

    case = (await http_json("GET", f"{url}/cases/{pid}", key("depa"))).json()
    assert case["stage"] == "certified"
    assert [(h["event_type"], h["to"]) for h in case["history"]] == [
        ("ProposalSubmitted", "submitted"),
        ("CabinetEndorsed", None),
        ("ProposalScreened", "screened"),
        ("SubcommitteeApproved", "subcommittee_approved"),
        ("SteeringCommitteeAcknowledged", "steering_acknowledged"),
        ("CabinetEndorsed", "cabinet_endorsed"),
        ("CertificationAwarded", "certified"),
    ]
    assert case["history"][1]["refused"].startswith(
        "The endorsement by the Cabinet cannot be accepted"
    )
    number = case["certificate"]["certificate_number"]
    assert re.fullmatch(rf"SCT-{today.year + 543}-\d{{4}}", number)
    assert case["certificate"]["deliver_by"] == deliver_by.isoformat()

    # Each decision is a fact on the decisions topic, produced by the deciding agency and
    # caused by its claim; the refusal is addressed to the Cabinet secretariat.
    published = await facts(topics.decisions, {pid}, min_records=6)
    by_type = {e["event_type"]: e for e in published}
    assert by_type["ProposalScreened"]["producer"] == "depa"
    assert by_type["SubcommitteeApproved"]["payload"]["meeting"]["meeting_id"] == "1/2565"
    assert by_type["SubcommitteeApproved"]["producer"] == "des-subcommittee"
    assert by_type["CabinetEndorsed"]["producer"] == "cabinet-secretariat"
    assert by_type["CertificationAwarded"]["payload"]["certificate_number"] == number
    assert by_type["CertificationAwarded"]["causation_id"] is not None
    refused = by_type["TransitionRefused"]
    assert refused["payload"]["producer"] == "cabinet-secretariat"
    assert refused["payload"]["stage"] == "submitted"

    # The award is sealed by the approvals service with its key (svc-approvals' test key, in
    # the registry), and the award letter encloses the certificate as its own PDF.
    awarded = CertificationAwarded.model_validate(by_type["CertificationAwarded"]["payload"])
    approvals_key = signer_for(ISSUER)
    assert awarded.seal is not None
    assert awarded.seal.key_id == approvals_key.key_id
    registry = {
        approvals_key.key_id: SigningKey(
            approvals_key.key_id,
            ISSUER,
            approvals_key.private_key.public_key().public_bytes_raw(),
            dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        )
    }
    assert check_seal(awarded, pid, registry)

    async def award_letter() -> Any:
        for found in await mailpit.search(pid):
            msg = await mailpit.raw(found["ID"])
            if msg["X-Smartcity-Event-Type"] == "CertificationAwarded":
                return msg
        return None

    letter = await poll(award_letter, timeout=120, what="the award letter at the SMTP sink")
    assert "สิ่งที่ส่งมาด้วย  ใบรับรองพื้นที่เมืองอัจฉริยะ เลขที่ " + number in str(
        letter.get_body(("plain",)).get_content()
    )
    pdfs = {a.get_filename(): a.get_content() for a in letter.iter_attachments()}
    assert len(pdfs) == 2
    certificate = tmp_path / f"{number}-certificate.pdf"
    certificate.write_bytes(pdfs[certificate.name])
    assert {name for name, _embedded in fonts(certificate)} <= LETTER_FONTS
    assert all(embedded for _name, embedded in fonts(certificate))
    assert set(page_sizes(certificate)) == {A4_POINTS}
    on_paper = squeezed(poppler("pdftotext", certificate, "-raw"))
    for fact in (number, "ภูเก็ต", "Phuket", f"/certificates/{number}", awarded.seal.signature):
        assert squeezed(fact) in on_paper, fact
    assert lines_starting_with_a_mark(certificate) == []

    # Its public page: no key, the status, the signature checked against the registry.
    page = await http_json("GET", f"{url}/certificates/{number}")
    assert page.status_code == 200, page.text
    assert "ลายมือชื่ออิเล็กทรอนิกส์ถูกต้อง" in page.text
    assert "the signature is valid" in page.text
    assert (await http_json("GET", f"{url}/certificates/{number}/facts")).json()["status"][
        "status"
    ] == "active"

    # The registry (public) and its summary, computed from the data.
    entries = (await http_json("GET", f"{url}/registry?province=83")).json()
    assert [e["certificate_number"] for e in entries if e["proposal_id"] == pid] == [number]
    assert entries[0]["province_en"] == "Phuket"
    summary = (await http_json("GET", f"{url}/registry/summary")).json()
    assert summary["areas"] >= 1
    assert summary["by_province"]["83"] >= 1
    assert summary["provinces"] == len(summary["by_province"])
    stage_list = (await http_json("GET", f"{url}/cases?stage=certified", key("depa"))).json()
    assert pid in {c["proposal_id"] for c in stage_list}

    # Deadlines: depa only; never as of a future date (reminders are for what is due, and the
    # thresholds themselves are unit-tested in test_approvals_domain.py).
    scan = f"{url}/admin/deadline-scan"
    assert (
        await http_json("POST", scan, key("des-subcommittee"), params={"as_of": str(today)})
    ).status_code == 403
    now = await http_json("POST", scan, key("depa"), params={"as_of": str(today)})
    assert now.status_code == 200, now.text
    assert now.json()["emitted"] == 0  # valid from today: nothing is due yet
    ahead = await http_json(
        "POST", scan, key("depa"), params={"as_of": str(deliver_by - dt.timedelta(days=83))}
    )
    assert ahead.status_code == 422
    assert set(ahead.json()) == {"error", "error_th", "errors"}
    assert ahead.json()["errors"][0]["field"] == "query.as_of"
    metrics = (await http_json("GET", f"{url}/metrics")).text
    assert "smartcity_approvals_refusals_total" in metrics
    assert 'smartcity_approvals_cases{stage="certified"}' in metrics


async def test_a_meeting_of_15_proposals_recorded_twice_and_claims_sent_twice(
    services: dict[str, ServiceProcess],
    api_keys: dict[tuple[str, str], str],
    ns: Namespace,
    topics: Topics,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    subs = [submitted(code, i) for i, code in enumerate(PROVINCES_15)]
    pids = [s.proposal_id for s in subs]
    await produce(topics.proposals, subs)
    cases = mongo[ns.db("approvals")]["cases"]
    await wait_stage(cases, pids, "submitted")

    # Screening claims from depa's own system, each sent twice (same event id).
    claims = [screened(pid) for pid in pids]
    await produce(topics.intake, claims + claims)
    await wait_stage(cases, pids, "screened")

    decisions = [(pid, "SubcommitteeApproved") for pid in pids[:13]]
    decisions += [(pids[13], "SubcommitteeRejected"), (pids[14], "RevisionRequested")]
    body = meeting("subcommittee", "7/2565", decisions).model_dump(mode="json")
    url = services["approvals"].url
    key = api_keys[("approvals", "des-subcommittee")]
    started = time.monotonic()
    first = await http_json("POST", f"{url}/meetings", key, json=body)
    print(f"POST /meetings with 15 decisions: {time.monotonic() - started:.2f} s")
    assert first.status_code == 200, first.text
    assert first.json()["counts"] == {"applied": 15}
    second = await http_json("POST", f"{url}/meetings", key, json=body)
    assert second.json()["counts"] == {"duplicate": 15}
    # ... and once more as a claim from the secretariat's system.
    await produce(
        topics.intake,
        [claim(meeting("subcommittee", "7/2565", decisions), "des-subcommittee", pids[0])],
    )

    meetings = mongo[ns.db("approvals")]["meetings"]
    await poll(
        lambda: meetings.find_one({"_id": "subcommittee:7/2565", "times_recorded": 3}),
        what="the meeting recorded three times",
    )
    stored = await meetings.find_one({"_id": "subcommittee:7/2565"})
    assert stored is not None
    assert len(stored["decisions"]) == 15
    assert stored["chair"] == CHAIR.model_dump()

    await wait_stage(cases, pids[:13], "subcommittee_approved")
    published = await facts(topics.decisions, set(pids), min_records=30)
    per_type: dict[str, list[str]] = {}
    for e in published:
        per_type.setdefault(e["event_type"], []).append(e["proposal_id"])
    assert sorted(per_type["ProposalScreened"]) == sorted(pids)
    assert sorted(per_type["SubcommitteeApproved"]) == sorted(pids[:13])
    assert per_type["SubcommitteeRejected"] == [pids[13]]
    assert per_type["RevisionRequested"] == [pids[14]]
    assert "TransitionRefused" not in per_type
    for e in published:
        if e["event_type"] in {"SubcommitteeApproved", "SubcommitteeRejected"}:
            assert e["payload"]["meeting"]["meeting_id"] == "7/2565"
    rejected = await cases.find_one({"_id": pids[13]})
    assert rejected is not None
    assert rejected["stage"] == "rejected"
    for doc in await cases.find({"_id": {"$in": pids}}).to_list(None):
        assert [h["event_type"] for h in doc["history"]].count("ProposalScreened") == 1
        assert len(doc["history"]) == 3

    # The 13 approved go on: steering committee over HTTP, Cabinet and the awards as claims
    # from the agencies' systems (a claimed certificate number is replaced by the service's).
    approved = pids[:13]
    steer = meeting(
        "steering_committee", "8/2565", [(p, "SteeringCommitteeAcknowledged") for p in approved]
    )
    resp = await http_json(
        "POST",
        f"{url}/meetings",
        api_keys[("approvals", "steering-committee")],
        json=steer.model_dump(mode="json"),
    )
    assert resp.json()["counts"] == {"applied": 13}, resp.text
    cab = meeting("cabinet", "21/2565", [(p, "CabinetEndorsed") for p in approved], "นร 0505/ว 9")
    await produce(topics.intake, [claim(cab, "cabinet-secretariat", approved[0])])
    await wait_stage(cases, approved, "cabinet_endorsed")
    awards = [
        claim(
            CertificationAwarded(
                certificate_number="SCT-2565-9999",
                area_name=BilingualText(th="อื่น", en="Other"),
                province_code="10",
                subcommittee_meeting_id="1/2565",
                validity=ValidityPeriod(
                    valid_from=dt.datetime.now(dt.UTC).date(), deliver_by=dt.date(2099, 1, 1)
                ),
            ),
            "depa",
            p,
        )
        for p in approved
    ]
    await produce(topics.intake, awards)
    await wait_stage(cases, approved, "certified")

    registry = (await http_json("GET", f"{url}/registry", params={"meeting": "7/2565"})).json()
    assert sorted(e["proposal_id"] for e in registry) == sorted(approved)
    numbers = [e["certificate_number"] for e in registry]
    assert len(set(numbers)) == 13
    assert "SCT-2565-9999" not in numbers
    assert {e["province_code"] for e in registry} == set(PROVINCES_15[:13])
    assert all(e["deliver_by"] != "2099-01-01" for e in registry)
    summary = (await http_json("GET", f"{url}/registry/summary")).json()
    assert summary["by_meeting"]["7/2565"] == 13
    assert summary["provinces"] == len(summary["by_province"])
    bangkok = (await http_json("GET", f"{url}/registry", params={"province": "10"})).json()
    assert [e["province_en"] for e in bangkok if e["proposal_id"] in approved] == ["Bangkok"]
