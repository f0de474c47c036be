"""The public certificate page through the approvals service's HTTP app, on the real FerretDB:
a certificate awarded and sealed by the service's handlers, then read without a key: its
facts and status (the one rule, with the go-live), its signature checked against the
registry's key (valid; not valid once the stored facts are tampered with; unknown key), the
security headers, and a 404 in the one error shape for an unknown number."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.approvals import AwardCertification
from smartcity_th.contracts.certificate_seal import ISSUER
from smartcity_th.contracts.envelope import new_envelope
from smartcity_th.contracts.examples import PAYLOADS
from smartcity_th.contracts.registry import SigningKeyRegistered, registry_event
from smartcity_th.kit import ClaimSigner
from smartcity_th.services.approvals.adapters.repository import MongoCaseRepository
from smartcity_th.services.approvals.bootstrap import build
from smartcity_th.services.approvals.config import ApprovalsSettings
from smartcity_th.services.approvals.handlers import CaseHandlers
from tests.e2e.approvals_support import submitted
from tests.support import KAFKA, LOCAL, MONGO, Namespace, signer_for, write_private_key

pytestmark = pytest.mark.integration

ERROR_SHAPE = {"error", "error_th", "errors"}
STEPS = (
    "ProposalScreened",
    "SubcommitteeApproved",
    "SteeringCommitteeAcknowledged",
    "CabinetEndorsed",
)


def register(app_state: Any, signer: ClaimSigner) -> None:
    public = base64.b64encode(signer.private_key.public_key().public_bytes_raw()).decode()
    app_state.apply(
        registry_event(
            SigningKeyRegistered(
                key_id=signer.key_id,
                agency_id=signer.agency_id,
                public_key=public,
                registered_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
            )
        )
    )


@pytest.fixture
async def service(
    ns: Namespace, mongo: AsyncMongoClient[dict[str, Any]]
) -> AsyncIterator[tuple[httpx.AsyncClient, CaseHandlers, Any, MongoCaseRepository]]:
    keys = LOCAL / "tests" / "service-signing-keys"
    keys.mkdir(parents=True, exist_ok=True)
    db = ns.db(f"approvals_page_{uuid.uuid4().hex[:6]}")
    settings = ApprovalsSettings(
        kafka_bootstrap=KAFKA,
        mongo_url=MONGO,
        mongo_db=db,
        topic_namespace=ns.topics_prefix,
        tracing_enabled=False,
        signing_key_file=write_private_key(ISSUER, keys / "svc-approvals.pem"),
        certificate_url="https://smartcity.example.go.th",
    )
    rt, app = build(settings)  # no lifespan: the page needs only the store and the registry
    repo = MongoCaseRepository(mongo[db], rt.publisher)
    rt.publisher.publish_on_commit = False
    await repo.ensure_indexes()
    handlers = CaseHandlers(repo, signer=signer_for(ISSUER))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://approvals"
    ) as http:
        yield http, handlers, rt.registry.state, repo


async def award(handlers: CaseHandlers, valid_from: dt.date) -> tuple[str, str]:
    opening = submitted("94", 1)
    await handlers.apply_event(opening)
    pid = opening.proposal_id
    for step in STEPS:
        payload, producer = PAYLOADS[step]
        [result] = await handlers.handle_claim(
            new_envelope(payload, producer=producer, proposal_id=pid)
        )
        assert result.outcome == "applied", result
    [done] = await handlers.handle_claim(
        new_envelope(AwardCertification(valid_from=valid_from), producer="depa", proposal_id=pid)
    )
    assert done.outcome == "applied", done
    case = await handlers._repo.get(pid)
    assert case is not None
    assert case.certificate is not None
    return pid, case.certificate["certificate_number"]


def assert_secure(resp: httpx.Response) -> None:
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]


async def test_the_page_shows_the_facts_the_status_and_a_valid_signature(service: Any) -> None:
    http, handlers, registry, _repo = service
    register(registry, signer_for(ISSUER))
    today = handlers.clock().date()
    pid, number = await award(handlers, today - dt.timedelta(days=30))

    page = await http.get(f"/certificates/{number}")
    assert page.status_code == 200, page.text
    assert_secure(page)
    assert page.headers["content-security-policy"].startswith("default-src 'none'; style-src")
    html = page.text
    assert html.index("ใบรับรองพื้นที่เมืองอัจฉริยะ") < html.index("Smart-City Area Certificate")
    for fact in (number, "จังหวัดปัตตานี", "Pattani", "มีผล", "Active", "ลายมือชื่ออิเล็กทรอนิกส์ถูกต้อง"):
        assert fact in html, fact
    assert f"https://smartcity.example.go.th/certificates/{number}" in html
    assert "@" not in html  # no addresses: nothing personal on a public page

    facts = (await http.get(f"/certificates/{number}/facts")).json()
    assert facts["certificate"]["certificate_number"] == number
    assert facts["certificate"]["proposal_id"] == pid
    assert facts["signature"] == {**facts["signature"], "result": "valid", "valid": True}
    assert facts["status"]["status"] == "active"
    assert facts["seal"]["key_id"] == signer_for(ISSUER).key_id
    statement = base64.b64decode(facts["statement_base64"])
    signer_for(ISSUER).private_key.public_key().verify(
        base64.b64decode(facts["seal"]["signature"]), statement
    )


async def test_due_status_and_a_tampered_or_unknown_signature(service: Any) -> None:
    http, handlers, registry, repo = service
    today = handlers.clock().date()
    # Delivery due in 40 days: the report is due (one rule: contracts/certificate.py).
    _pid, number = await award(handlers, today.replace(year=today.year - 2) + dt.timedelta(days=40))
    facts = (await http.get(f"/certificates/{number}/facts")).json()
    assert facts["status"]["status"] == "report_due"
    assert facts["signature"]["result"] == "unknown_key"  # not registered (yet)

    register(registry, signer_for(ISSUER))
    assert (await http.get(f"/certificates/{number}/facts")).json()["signature"]["valid"]

    # Someone edits the stored facts: the page says the signature no longer checks.
    doc = await repo.collection.find_one({"certificate.certificate_number": number})
    assert doc is not None
    history = doc["history"]
    for entry in history:
        if entry["event_type"] == "CertificationAwarded":
            entry["payload"]["province_code"] = "10"
    await repo.collection.update_one({"_id": doc["_id"]}, {"$set": {"history": history}})
    page = await http.get(f"/certificates/{number}")
    assert page.status_code == 200
    assert "ลายมือชื่ออิเล็กทรอนิกส์ไม่ตรงกับข้อมูลในใบรับรอง" in page.text
    assert "the signature does not match the certificate" in page.text
    tampered = (await http.get(f"/certificates/{number}/facts")).json()
    assert tampered["signature"]["result"] == "bad_signature"


async def test_an_unknown_number_is_a_404_in_the_error_shape(service: Any) -> None:
    http, _handlers, _registry, _repo = service
    for path in ("/certificates/SCT-2599-9999", "/certificates/nonsense/facts"):
        resp = await http.get(path)
        assert resp.status_code == 404
        assert set(resp.json()) >= ERROR_SHAPE
        assert_secure(resp)
