"""A certificate's seal: the canonical statement of its facts, the approvals service's Ed25519
signature over it, and the check anyone can make with the registry's public key (pure)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from smartcity_th.contracts.approvals import CertificationAwarded, ValidityPeriod
from smartcity_th.contracts.certificate_seal import (
    ISSUER,
    STATEMENT_DOMAIN,
    SealCheck,
    check_seal,
    seal,
    statement,
)
from smartcity_th.contracts.common import BilingualText
from smartcity_th.contracts.signing import SigningKey, key_id_for, raw_public_key

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
AT = dt.datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=dt.UTC)
PROPOSAL = "PRP-2565-0016"


def private(name: str = ISSUER) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())


def registered(key: Ed25519PrivateKey, agency_id: str = ISSUER, **kw: dt.datetime) -> SigningKey:
    public = raw_public_key(key)
    return SigningKey(
        key_id_for(agency_id, public),
        agency_id,
        public,
        kw.get("registered_at", T0),
        kw.get("revoked_at"),
    )


AWARD = CertificationAwarded(
    certificate_number="SCT-2565-0016",
    area_name=BilingualText(th="ปัตตานีเมืองอัจฉริยะ", en="Pattani Smart City"),
    province_code="94",
    subcommittee_meeting_id="1/2565",
    validity=ValidityPeriod.starting(dt.date(2022, 9, 30)),
)


def sealed(key: Ed25519PrivateKey | None = None) -> tuple[CertificationAwarded, SigningKey]:
    key = key or private()
    entry = registered(key)
    return seal(AWARD, PROPOSAL, key, entry.key_id, AT), entry


def test_statement_is_canonical_json_of_the_facts_after_the_domain_line() -> None:
    key_id = registered(private()).key_id
    text = statement(AWARD, PROPOSAL, key_id, AT)
    assert text.startswith(STATEMENT_DOMAIN)
    body = text[len(STATEMENT_DOMAIN) :].decode("utf-8")
    assert body == (
        '{"area_name":{"en":"Pattani Smart City","th":"ปัตตานีเมืองอัจฉริยะ"},'
        '"certificate_number":"SCT-2565-0016","deliver_by":"2024-09-30",'
        f'"key_id":"{key_id}","proposal_id":"PRP-2565-0016","province_code":"94",'
        '"renewal_min_progress_percent":50,"signed_at":"2026-03-02T09:30:15Z",'
        '"subcommittee_meeting_id":"1/2565","valid_from":"2022-09-30"}'
    )


def test_a_sealed_award_checks_against_the_registry_key() -> None:
    award, entry = sealed()
    assert award.seal is not None
    assert award.seal.key_id == entry.key_id
    assert award.seal.signed_at == AT.replace(microsecond=0)
    verdict = check_seal(award, PROPOSAL, {entry.key_id: entry})
    assert verdict.check is SealCheck.VALID
    assert verdict.as_dict()["valid"] is True


def test_the_seal_survives_the_wire() -> None:
    award, entry = sealed()
    again = CertificationAwarded.model_validate_json(award.model_dump_json())
    assert check_seal(again, PROPOSAL, {entry.key_id: entry})


@pytest.mark.parametrize(
    "tamper",
    [
        {"certificate_number": "SCT-2565-0017"},
        {"province_code": "10"},
        {"area_name": BilingualText(th="ปัตตานี", en="Pattani Smart City")},
        {"subcommittee_meeting_id": "2/2565"},
        {
            "validity": ValidityPeriod(
                valid_from=dt.date(2022, 9, 30), deliver_by=dt.date(2025, 9, 30)
            )
        },
    ],
    ids=["number", "province", "area", "meeting", "deliver_by"],
)
def test_a_tampered_certificate_fails(tamper: dict[str, object]) -> None:
    award, entry = sealed()
    forged = award.model_copy(update=tamper)
    assert check_seal(forged, PROPOSAL, {entry.key_id: entry}).check is SealCheck.BAD_SIGNATURE


def test_another_proposal_or_signing_time_fails() -> None:
    award, entry = sealed()
    keys = {entry.key_id: entry}
    assert check_seal(award, "PRP-2565-0001", keys).check is SealCheck.BAD_SIGNATURE
    assert award.seal is not None
    moved = award.seal.model_copy(update={"signed_at": AT + dt.timedelta(days=1)})
    later = award.model_copy(update={"seal": moved})
    assert check_seal(later, PROPOSAL, keys).check is SealCheck.BAD_SIGNATURE


def test_unsigned_unknown_wrong_signer_and_revoked_keys() -> None:
    award, entry = sealed()
    assert check_seal(AWARD, PROPOSAL, {entry.key_id: entry}).check is SealCheck.UNSIGNED
    assert check_seal(award, PROPOSAL, {}).check is SealCheck.UNKNOWN_KEY
    # The same key id registered to another agency (the registry would refuse it; the check
    # does not rely on that).
    other = SigningKey(entry.key_id, "depa", entry.public_key, T0)
    assert check_seal(award, PROPOSAL, {entry.key_id: other}).check is SealCheck.WRONG_SIGNER
    revoked_before = SigningKey(
        entry.key_id, ISSUER, entry.public_key, T0, AT - dt.timedelta(days=1)
    )
    assert (
        check_seal(award, PROPOSAL, {entry.key_id: revoked_before}).check
        is SealCheck.KEY_NOT_CURRENT
    )
    # Revoked after it signed: what it signed still checks.
    revoked_after = SigningKey(
        entry.key_id, ISSUER, entry.public_key, T0, AT + dt.timedelta(days=1)
    )
    assert check_seal(award, PROPOSAL, {entry.key_id: revoked_after})


def test_a_signature_by_another_key_fails() -> None:
    award, entry = sealed(private("someone-else"))
    # The registry holds the approvals service's real key under the seal's key id.
    genuine = SigningKey(entry.key_id, ISSUER, raw_public_key(private()), T0)
    assert check_seal(award, PROPOSAL, {entry.key_id: genuine}).check is SealCheck.BAD_SIGNATURE
