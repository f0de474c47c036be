"""A certificate's seal: the approvals service's Ed25519 signature over a canonical statement of
the certificate's facts, made when it awards the certificate. No PAdES: the signature is over
the facts, not the PDF's bytes, so the same facts printed on paper, shown on the public
certificate page or carried by the CertificationAwarded event all check against it.

The statement is `STATEMENT_DOMAIN` followed by one JSON object: the facts below, keys sorted,
no whitespace, UTF-8 (not \\u-escaped); a date is `YYYY-MM-DD`, the signing time
`YYYY-MM-DDTHH:MM:SSZ`. Anyone can rebuild it from the certificate's printed facts and check the
printed signature with the public key the agency registry holds for the printed key id.
Nothing here does I/O: the caller supplies the keys it knows.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from smartcity_th.contracts.approvals import CertificateSeal, CertificationAwarded
from smartcity_th.contracts.common import service_principal
from smartcity_th.contracts.signing import SigningKey

STATEMENT_DOMAIN = b"smartcity-certificate-v1\n"
"""The first bytes of every statement: names the scheme and its version."""
ISSUER = service_principal("approvals")
"""The agency (registry id) whose key signs certificates: the approvals service, which owns
them."""


def signing_time(at: dt.datetime) -> dt.datetime:
    """A moment as a seal records it: UTC, whole seconds."""
    return at.astimezone(dt.UTC).replace(microsecond=0)


def facts(award: CertificationAwarded, proposal_id: str) -> dict[str, object]:
    """What the certificate states, as the statement lays it out."""
    return {
        "certificate_number": award.certificate_number,
        "proposal_id": proposal_id,
        "area_name": {"th": award.area_name.th, "en": award.area_name.en},
        "province_code": award.province_code,
        "subcommittee_meeting_id": award.subcommittee_meeting_id,
        "valid_from": award.validity.valid_from.isoformat(),
        "deliver_by": award.validity.deliver_by.isoformat(),
        "renewal_min_progress_percent": award.validity.renewal_min_progress_percent,
    }


def statement(
    award: CertificationAwarded, proposal_id: str, key_id: str, signed_at: dt.datetime
) -> bytes:
    """The bytes that are signed: the domain line, then the facts with the key id and the
    signing time, as canonical JSON."""
    body = {
        **facts(award, proposal_id),
        "key_id": key_id,
        "signed_at": signing_time(signed_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return STATEMENT_DOMAIN + text.encode("utf-8")


def seal(
    award: CertificationAwarded,
    proposal_id: str,
    private_key: Ed25519PrivateKey,
    key_id: str,
    at: dt.datetime,
) -> CertificationAwarded:
    """The award with its seal: signed by `private_key` (registered as `key_id`) at `at`."""
    signed_at = signing_time(at)
    signature = private_key.sign(statement(award, proposal_id, key_id, signed_at))
    return award.model_copy(
        update={
            "seal": CertificateSeal(
                key_id=key_id,
                signed_at=signed_at,
                signature=base64.b64encode(signature).decode("ascii"),
            )
        }
    )


class SealCheck(StrEnum):
    VALID = "valid"
    UNSIGNED = "unsigned"
    UNKNOWN_KEY = "unknown_key"
    WRONG_SIGNER = "wrong_signer"
    KEY_NOT_CURRENT = "key_not_current"
    BAD_SIGNATURE = "bad_signature"


SEAL_CHECK_LABELS: dict[SealCheck, tuple[str, str]] = {
    SealCheck.VALID: (
        "ลายมือชื่ออิเล็กทรอนิกส์ถูกต้อง ตรงกับกุญแจสาธารณะในทะเบียน",
        "the signature is valid for the registry's public key",
    ),
    SealCheck.UNSIGNED: ("ใบรับรองนี้ไม่มีลายมือชื่ออิเล็กทรอนิกส์", "this certificate is not signed"),
    SealCheck.UNKNOWN_KEY: (
        "ไม่พบกุญแจที่ใช้ลงนามในทะเบียน",
        "the signing key is not in the registry",
    ),
    SealCheck.WRONG_SIGNER: (
        "กุญแจที่ใช้ลงนามไม่ใช่ของบริการพิจารณาอนุมัติ",
        "the signing key is not the approvals service's",
    ),
    SealCheck.KEY_NOT_CURRENT: (
        "กุญแจที่ใช้ลงนามไม่มีผลในเวลาที่ลงนาม",
        "the signing key was not current when it signed",
    ),
    SealCheck.BAD_SIGNATURE: (
        "ลายมือชื่ออิเล็กทรอนิกส์ไม่ตรงกับข้อมูลในใบรับรอง",
        "the signature does not match the certificate's facts",
    ),
}
"""Thai and English words for each result."""


@dataclass(frozen=True)
class SealVerdict:
    check: SealCheck
    key_id: str | None = None

    def __bool__(self) -> bool:
        return self.check is SealCheck.VALID

    def as_dict(self) -> dict[str, object]:
        th, en = SEAL_CHECK_LABELS[self.check]
        return {"result": self.check.value, "valid": bool(self), "th": th, "en": en}


def check_seal(
    award: CertificationAwarded, proposal_id: str, keys: Mapping[str, SigningKey]
) -> SealVerdict:
    """Does the award's seal check: made by a registered key of the approvals service that was
    current when it signed, over exactly these facts?"""
    s = award.seal
    if s is None:
        return SealVerdict(SealCheck.UNSIGNED)
    key = keys.get(s.key_id)
    if key is None:
        return SealVerdict(SealCheck.UNKNOWN_KEY, s.key_id)
    if key.agency_id != ISSUER:
        return SealVerdict(SealCheck.WRONG_SIGNER, s.key_id)
    if not key.current_at(s.signed_at):
        return SealVerdict(SealCheck.KEY_NOT_CURRENT, s.key_id)
    try:
        signature = base64.b64decode(s.signature, validate=True)
        Ed25519PublicKey.from_public_bytes(key.public_key).verify(
            signature, statement(award, proposal_id, s.key_id, s.signed_at)
        )
    except (InvalidSignature, ValueError, binascii.Error):
        return SealVerdict(SealCheck.BAD_SIGNATURE, s.key_id)
    return SealVerdict(SealCheck.VALID, s.key_id)
