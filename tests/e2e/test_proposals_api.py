"""The proposals HTTP API end to end: the service as a real process on the real Kafka and
FerretDB. Every endpoint, idempotent retries, who may see and do what, validation and limits."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.agencies import Agency
from smartcity_th.contracts.approvals import RevisionRequested
from smartcity_th.contracts.common import AgencyKind, BilingualText
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.registry_admin import RegistryAdmin
from tests.support import (
    KAFKA,
    Namespace,
    ServiceProcess,
    admin_cli,
    dead_letters,
    facts,
    kafka_producer,
    poll,
    produce,
    read_topic,
    wait_key_accepted,
)

pytestmark = pytest.mark.e2e

PLAN = {
    "area_boundary_and_goals": "เขตเทศบาล 12 ตร.กม. / 12 km2 of the municipality",
    "infrastructure_plan": "Fibre backbone and sensors",
    "city_data_platform": "Open city data platform",
    "smart_solutions": "Smart mobility and flood warning",
    "management_model": "Municipal company as operator",
}


def draft(province: str = "Phuket", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "province": province,
        "area_name": {"th": "เมืองอัจฉริยะทดสอบ", "en": "Test Smart City"},
        "dimensions": ["mobility", "environment"],
        "plan": dict(PLAN),
        "has_city_data_platform": True,
        "budget_baht": "1000000",
        "expected_value_baht": "5000000",
        "contact_emails": ["smart@example.go.th"],
    }
    body.update(changes)
    return body


class Api:
    """A small client of the proposals API for one agency key."""

    def __init__(self, base: str, key: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=15, headers={"X-API-Key": key})

    async def submit(self, body: dict[str, Any], idem: str | None = None) -> httpx.Response:
        return await self.http.post("/proposals", json=body, headers=_idem(idem))

    async def resubmit(
        self, pid: str, body: dict[str, Any], idem: str | None = None
    ) -> httpx.Response:
        return await self.http.post(f"/proposals/{pid}/revisions", json=body, headers=_idem(idem))

    async def withdraw(
        self, pid: str, reason: str | None = None, idem: str | None = None
    ) -> httpx.Response:
        return await self.http.post(
            f"/proposals/{pid}/withdrawal", json={"reason": reason}, headers=_idem(idem)
        )

    async def get(self, pid: str) -> httpx.Response:
        return await self.http.get(f"/proposals/{pid}")

    async def list(self, **params: Any) -> httpx.Response:
        return await self.http.get("/proposals", params=params)


def _idem(idem: str | None) -> dict[str, str]:
    return {"Idempotency-Key": idem} if idem else {}


@pytest.fixture
async def api(
    services: dict[str, ServiceProcess], api_keys: dict[tuple[str, str], str]
) -> dict[str, Api]:
    url = services["proposals"].url
    return {
        agency_id: Api(url, key) for (svc, agency_id), key in api_keys.items() if svc == "proposals"
    }


def revision_request(proposal_id: str, producer: str = "svc-approvals") -> AnyEnvelope:
    return new_envelope(
        RevisionRequested(
            requested_by="depa",
            reasons=BilingualText(th="โปรดเพิ่มแผนการเงิน", en="Please add a financing plan"),
        ),
        producer=producer,
        proposal_id=proposal_id,
    )


async def test_submit_get_and_a_retried_submission(
    api: dict[str, Api],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    idem = str(uuid.uuid4())
    first = await api["lg-phuket-city"].submit(draft(), idem)
    assert first.status_code == 201, first.text
    body = first.json()
    pid = body["proposal_id"]
    assert body["status"] == "submitted"
    assert body["revision"] == 1
    assert body["content"]["province"]["code"] == "83"
    assert [r["revision"] for r in body["revisions"]] == [1]

    again = await api["lg-phuket-city"].submit(draft(), idem)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["proposal_id"] == pid
    assert (
        await mongo[ns.db("proposals")]["proposals"].count_documents({"idempotency_key": idem}) == 1
    )

    got = await api["lg-phuket-city"].get(pid)
    assert got.status_code == 200
    assert got.json()["proposal_id"] == pid
    published = await facts(topics.proposals, {pid}, min_records=1)
    assert [f["event_type"] for f in published] == ["ProposalSubmitted"]
    assert published[0]["event_id"] == body["revisions"][0]["event_id"]


async def test_who_may_see_and_do_what(api: dict[str, Api]) -> None:
    created = await api["lg-phuket-city"].submit(draft())
    assert created.status_code == 201, created.text
    pid = created.json()["proposal_id"]

    as_depa = await api["depa"].submit(draft())
    assert as_depa.status_code == 403
    assert "may not emit ProposalSubmitted" in as_depa.json()["error"]
    assert as_depa.json()["error_th"]

    other_province = await api["lg-khon-kaen-city"].submit(draft("Phuket"))
    assert other_province.status_code == 403
    assert "may not act for province 83" in other_province.json()["error"]

    assert (await api["lg-khon-kaen-city"].get(pid)).status_code == 404
    assert (await api["depa"].get(pid)).status_code == 200
    assert (await api["des-subcommittee"].get(pid)).status_code == 200

    not_theirs = await api["pd-samyan"].withdraw(pid)
    assert not_theirs.status_code == 404  # as GET answers: no owner named
    assert "lg-phuket-city" not in not_theirs.text
    assert (await api["depa"].withdraw(pid)).status_code == 403

    listing = await api["lg-khon-kaen-city"].list(applicant="lg-phuket-city")
    assert listing.status_code == 403
    mine = await api["lg-khon-kaen-city"].list()
    assert all(p["applicant"] == "lg-khon-kaen-city" for p in mine.json()["items"])
    everyone = await api["depa"].list(applicant="lg-phuket-city")
    assert pid in [p["proposal_id"] for p in everyone.json()["items"]]

    no_key = await httpx.AsyncClient(base_url=str(api["depa"].http.base_url)).get("/proposals")
    assert no_key.status_code == 401
    assert (await Api(str(api["depa"].http.base_url), "sck_wrong").get(pid)).status_code == 401
    assert (await api["depa"].get("SC-NOSUCH0001")).status_code == 404
    too_long = await api["depa"].get("x" * 65)
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "path.proposal_id"


async def test_validation_is_field_precise_in_english_and_thai(api: dict[str, Api]) -> None:
    client = api["lg-khon-kaen-city"]
    cases: list[tuple[dict[str, Any], str]] = [
        (draft("Khon Kaen", dimensions=[]), "dimensions"),
        (draft("Khon Kaen", dimensions=["nightlife"]), "dimensions.0"),
        (draft("Khon Kaen", plan={**PLAN, "management_model": "  "}), "plan.management_model"),
        (
            draft("Khon Kaen", plan={k: v for k, v in PLAN.items() if k != "smart_solutions"}),
            "plan.smart_solutions",
        ),
        (draft("Khon Kaen", budget_baht="-1"), "budget_baht"),
        (draft("Khon Kaen", expected_value_baht="-0.01"), "expected_value_baht"),
        (draft("Khon Kaen", contact_emails=["not-an-email"]), "contact_emails.0"),
        (draft("Khon Kaen", contact_emails=[]), "contact_emails"),
        (
            draft("Khon Kaen", contact_emails=[f"a{i}@example.go.th" for i in range(11)]),
            "contact_emails",
        ),
        (
            draft("Khon Kaen", plan={**PLAN, "smart_solutions": "x" * 20_001}),
            "plan.smart_solutions",
        ),
        (draft("Khon Kaen", area_name={"th": "ก" * 501, "en": "x"}), "area_name.th"),
        (draft("Khon Kaen", unexpected=1), "unexpected"),
        (draft("Atlantis"), "province"),
    ]
    for body, field in cases:
        resp = await client.submit(body)
        assert resp.status_code == 422, (field, resp.text)
        errors = resp.json()["errors"]
        assert field in [e["field"] for e in errors], (field, errors)
        assert all(e["message"]["en"] and e["message"]["th"] for e in errors)
        assert resp.json()["error"]
        assert resp.json()["error_th"]

    bad_json = await client.http.post(
        "/proposals", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 422
    assert bad_json.json()["errors"]
    bad_limit = await client.list(limit=1000)
    assert bad_limit.status_code == 422
    assert bad_limit.json()["errors"][0]["field"] == "query.limit"
    assert (await client.list(cursor="garbage")).json()["errors"][0]["field"] == "cursor"


async def test_contact_addresses_only_at_the_applicants_registered_email_domains(
    services: dict[str, ServiceProcess], api: dict[str, Api], topics: Topics, ns: Namespace
) -> None:
    """Issue 24 item 9: an address outside the applicant's registered email domains is refused
    (422, naming it and the domains allowed, in English and Thai); one at a registered domain
    or a subdomain of it is accepted. An agency with no domain is told how to register one;
    the admin's command registers it, and every service applies it without a restart."""
    phuket = api["lg-phuket-city"]
    outside = await phuket.submit(draft(contact_emails=["smart@example.go.th", "me@gmail.com"]))
    assert outside.status_code == 422, outside.text
    body = outside.json()
    for text in (body["error"], body["error_th"]):
        assert "me@gmail.com" in text
        assert "example.go.th" in text
        assert "smart@example.go.th" not in text
    assert [e["field"] for e in body["errors"]] == ["contact_emails.1"]
    assert all(e["message"]["en"] and e["message"]["th"] for e in body["errors"])
    inside = await phuket.submit(
        draft(contact_emails=["smart@example.go.th", "it@mail.example.go.th"])
    )
    assert inside.status_code == 201, inside.text
    assert inside.json()["content"]["contact_emails"] == [
        "smart@example.go.th",
        "it@mail.example.go.th",
    ]

    udon = Agency(
        f"lg-mail-{uuid.uuid4().hex[:6]}",
        AgencyKind.LOCAL_GOVERNMENT,
        "เทศบาลทดสอบโดเมนอีเมล",
        "Email Domain Test Municipality",
        "41",
    )
    async with RegistryAdmin(KAFKA, topics) as admin:
        await admin.register_agency(udon)
        key = await admin.issue_api_key(udon.agency_id, "contact domains test")
    url = services["proposals"].url
    await wait_key_accepted(url, key)
    newcomer = Api(url, key)
    udon_draft = draft("Udon Thani", contact_emails=["smartcity@udoncity.example.go.th"])
    none_yet = await newcomer.submit(udon_draft)
    assert none_yet.status_code == 422, none_yet.text
    hint = f"smartcity-admin email-domains {udon.agency_id} --add DOMAIN"
    assert "no registered email domain" in none_yet.json()["error"]
    assert hint in none_yet.json()["error"]
    assert hint in none_yet.json()["error_th"]

    added = admin_cli(
        ns, "email-domains", udon.agency_id, "--add", "UdonCity.example.go.th", "--output", "json"
    )
    assert added.returncode == 0, added.stdout + added.stderr
    assert json.loads(added.stdout) == {
        "agency": udon.agency_id,
        "email_domains": ["udoncity.example.go.th"],
    }
    idem = str(uuid.uuid4())

    async def accepted() -> bool:
        resp = await newcomer.submit(udon_draft, idem)
        assert resp.status_code in (201, 200, 422), resp.text
        return resp.status_code in (200, 201)

    await poll(accepted, timeout=30, what="the proposals service to apply the new email domain")
    still_outside = await newcomer.submit(draft("Udon Thani", contact_emails=["x@example.go.th"]))
    assert still_outside.status_code == 422
    assert "udoncity.example.go.th" in still_outside.json()["error"]
    assert admin_cli(ns, "email-domains", udon.agency_id, "--add", "not a domain").returncode == 2


async def test_nul_in_a_query_or_a_body_is_a_400_or_422_never_a_server_error(
    api: dict[str, Api], ns: Namespace, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    # PostgreSQL (FerretDB's backend) cannot hold NUL in JSON text: a query or a document with
    # one fails in the store (SQLSTATE 22P05). Found by schemathesis on GET /registry.
    client = api["lg-phuket-city"]
    listed = await client.http.get("/proposals", params={"cursor": "a\x00b"})
    assert listed.status_code == 400, listed.text
    assert listed.json()["errors"][0]["field"] == "query"
    assert listed.json()["error_th"]
    body = draft("Phuket", area_name={"th": "ภูเก็ต\x00", "en": "Phuket"})
    resp = await client.submit(body, idem="nul-" + uuid.uuid4().hex)
    assert resp.status_code == 422, resp.text
    assert "NUL" in resp.text
    assert (
        await mongo[ns.db("proposals")]["proposals"].count_documents(
            {"idempotency_key": {"$regex": "^nul-"}}
        )
        == 0
    )


async def test_an_oversize_body_is_refused_with_413(
    api: dict[str, Api], ns: Namespace, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    huge = draft(
        "Phuket",
        attachments=[{"title": "x" * 400, "url": f"https://e.example/{i}"} for i in range(50)],
        plan={k: "ข" * 19_000 for k in PLAN},
    )
    resp = await api["lg-phuket-city"].submit(huge, idem="oversize-" + uuid.uuid4().hex)
    assert resp.status_code == 413
    assert "limit" in resp.json()["error"]
    assert resp.json()["error_th"]
    assert (
        await mongo[ns.db("proposals")]["proposals"].count_documents(
            {"idempotency_key": {"$regex": "^oversize-"}}
        )
        == 0
    )


async def test_an_oversize_chunked_body_without_a_length_is_refused_with_413(
    api: dict[str, Api],
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"province": "Phuket", "area_name": {"th": "'
        for _ in range(400):
            yield b"x" * 1024
        yield b'", "en": "x"}}'

    resp = await api["lg-phuket-city"].http.post(
        "/proposals", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 413, resp.text
    assert "content-length" not in resp.request.headers
    assert resp.json()["error"] == "request body exceeds the limit of 262144 bytes"


async def test_revision_request_resubmission_and_withdrawal(
    api: dict[str, Api],
    topics: Topics,
) -> None:
    owner = api["lg-phuket-city"]
    pid = (await owner.submit(draft())).json()["proposal_id"]

    too_early = await owner.resubmit(pid, draft(changes="more"))
    assert too_early.status_code == 409
    assert "at the stage \u201cSubmitted\u201d" in too_early.json()["error"]
    assert too_early.json()["error_th"]

    await produce(topics.decisions, [revision_request(pid)])

    async def awaiting() -> dict[str, Any] | None:
        body = (await owner.get(pid)).json()
        return body if body["status"] == "revision_requested" else None

    body = await poll(awaiting, what="proposal awaiting a resubmission")
    assert body["revision_requests"][0]["reasons"]["en"] == "Please add a financing plan"

    idem = str(uuid.uuid4())
    revised = draft(changes="financing plan added", budget_baht="2000000")
    first = await owner.resubmit(pid, revised, idem)
    assert first.status_code == 200, first.text
    assert first.json()["revision"] == 2
    assert first.json()["status"] == "submitted"
    assert first.json()["content"]["budget_baht"] in ("2000000", "2000000.00", "2E+6")
    assert [r["revision"] for r in first.json()["revisions"]] == [1, 2]
    assert first.json()["revisions"][1]["changes"] == {"th": None, "en": "financing plan added"}
    retry = await owner.resubmit(pid, revised, idem)
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["revision"] == 2
    assert (await owner.resubmit(pid, revised, str(uuid.uuid4()))).status_code == 409

    idem = str(uuid.uuid4())
    gone = await owner.withdraw(pid, "merged with the provincial plan", idem)
    assert gone.status_code == 200
    assert gone.json()["status"] == "withdrawn"
    assert gone.json()["withdrawal_reason"] == {"th": None, "en": "merged with the provincial plan"}
    assert (await owner.withdraw(pid, None, idem)).status_code == 200
    twice = await owner.withdraw(pid, None, str(uuid.uuid4()))
    assert twice.status_code == 409
    assert "Withdrawn by the applicant" in twice.json()["error"]

    published = await facts(topics.proposals, {pid}, min_records=3)
    assert [f["event_type"] for f in published] == [
        "ProposalSubmitted",
        "ProposalResubmitted",
        "ProposalWithdrawn",
    ]
    assert published[1]["payload"]["revision"] == 2
    assert published[2]["payload"]["reason"] == {
        "th": None,
        "en": "merged with the provincial plan",
    }
    assert len({f["event_id"] for f in published}) == 3


async def test_a_fact_its_owning_service_did_not_publish_is_dead_lettered(
    api: dict[str, Api],
    topics: Topics,
) -> None:
    """A decision that reached the decisions topic without the approvals service's signature
    (as if an ACL let another writer in; the admin plays it here) changes nothing."""
    owner = api["lg-phuket-city"]
    pid = (await owner.submit(draft())).json()["proposal_id"]
    stray = revision_request(pid)
    async with kafka_producer() as producer:
        await producer.send_and_wait(
            topics.decisions,
            stray.to_bytes(),
            key=stray.key,
            headers=[(k, v.encode()) for k, v in stray.headers().items()],
        )
    letters = await dead_letters(topics, stray.event_id, "proposals")
    assert letters
    letter = letters[0]
    assert letter["error_kind"] == "unverified_fact"
    assert letter["error"].startswith("unsigned: ")
    assert "svc-approvals signs every fact" in letter["error"]
    assert (await owner.get(pid)).json()["status"] == "submitted"


async def test_list_filters_and_cursor_pagination(api: dict[str, Api]) -> None:
    dev = api["pd-samyan"]
    provinces = ["Bangkok", "Chiang Mai", "Bangkok", "Rayong", "Bangkok"]
    ids = []
    for province in provinces:
        resp = await dev.submit(draft(province))
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["proposal_id"])
    withdrawn = ids[1]
    assert (await dev.withdraw(withdrawn)).status_code == 200
    first, last = (await dev.get(ids[0])).json(), (await dev.get(ids[-1])).json()
    since = dt.datetime.fromisoformat(first["submitted_at"])
    until = dt.datetime.fromisoformat(last["submitted_at"]) + dt.timedelta(microseconds=1000)
    window = {"submitted_from": since.isoformat(), "submitted_to": until.isoformat()}

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {**window, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await dev.list(**params)).json()
        pages += 1
        seen += [p["proposal_id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))  # newest first, each exactly once

    bangkok = (await dev.list(province="10", **window)).json()["items"]
    assert sorted(p["proposal_id"] for p in bangkok) == sorted(ids[0::2])
    by_name = (await dev.list(province="กรุงเทพมหานคร", **window)).json()["items"]
    assert len(by_name) == 3
    gone = (await dev.list(status="withdrawn", **window)).json()["items"]
    assert [p["proposal_id"] for p in gone] == [withdrawn]
    live = (await dev.list(stage="submitted", **window)).json()["items"]
    assert withdrawn not in [p["proposal_id"] for p in live]
    assert len(live) == 4
    later = (await dev.list(submitted_from=until.isoformat())).json()["items"]
    assert later == []
    naive = await dev.list(submitted_from="2026-01-01T00:00:00")
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "submitted_from"
    unknown = await dev.list(province="Atlantis")
    assert unknown.status_code == 422


async def test_openapi_health_and_metrics(
    services: dict[str, ServiceProcess], api: dict[str, Api]
) -> None:
    assert (await api["lg-phuket-city"].submit(draft())).status_code == 201
    async with httpx.AsyncClient(base_url=services["proposals"].url, timeout=10) as http:
        spec = (await http.get("/openapi.json")).json()
        assert {
            "/proposals",
            "/proposals/{proposal_id}",
            "/proposals/{proposal_id}/revisions",
            "/proposals/{proposal_id}/withdrawal",
            "/healthz",
            "/metrics",
        } <= set(spec["paths"])
        assert (await http.get("/docs")).status_code == 200
        health = await http.get("/healthz")
        assert health.status_code == 200
        assert health.json()["checks"] == {"kafka": "ok", "mongodb": "ok"}
        text = (await http.get("/metrics")).text
    assert (
        'smartcity_http_requests_total{method="POST",route="/proposals",'
        'service="proposals",status="201"}'
    ) in text
    assert "smartcity_http_request_duration_seconds_bucket{" in text
    assert 'route="/proposals/{proposal_id}"' in text
    assert (
        'smartcity_events_published_total{event_type="ProposalSubmitted",service="proposals"}'
    ) in text
    assert 'smartcity_outbox_pending{service="proposals"}' in text
    assert 'smartcity_outbox_oldest_age_seconds{service="proposals"}' in text


async def test_the_admin_command_issues_and_revokes_keys_in_every_service(
    services: dict[str, ServiceProcess], ns: Namespace
) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return admin_cli(ns, *args, timeout=60)

    issued = cli("api-key", "issue", "lg-rayong-city", "--label", "rayong system")
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip()
    assert key.startswith("sck_")
    await wait_key_accepted(services["proposals"].url, key)
    rayong = Api(services["proposals"].url, key)
    created = await rayong.submit(draft("Rayong"))
    assert created.status_code == 201
    # The fact records which API key authenticated the request.
    pid = created.json()["proposal_id"].encode()
    [fact] = await read_topic(
        Topics(ns.topics_prefix).proposals, min_records=1, where=lambda r: r.key == pid
    )
    key_id = hashlib.sha256(key.encode()).hexdigest()[:16]
    assert dict(fact.headers)["smartcity-authenticated-by"] == f"api-key:{key_id}".encode()
    await wait_key_accepted(services["approvals"].url, key, "/cases")

    assert cli("api-key", "issue", "lg-atlantis").returncode == 2
    revoked = cli("revoke", key)
    assert revoked.returncode == 0, revoked.stderr

    async def refused_everywhere() -> bool:
        async with httpx.AsyncClient(timeout=10) as http:
            codes = [
                (await http.get(url, headers={"X-API-Key": key})).status_code
                for url in (
                    services["proposals"].url + "/proposals",
                    services["approvals"].url + "/cases",
                )
            ]
        return codes == [401, 401]

    await poll(refused_everywhere, timeout=30, what="every service to refuse the revoked key")
    assert cli("revoke", key).returncode == 1
    listed = [
        line
        for line in cli("list").stdout.splitlines()
        if "lg-rayong-city" in line and line.split("│")[1].strip() == "api"
    ]
    assert len(listed) == 1
    assert key not in listed[0]
