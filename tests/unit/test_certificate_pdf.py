"""The certificate the award letter encloses, as a PDF: checked as the letters are
(tests/pdfcheck.py: only the embedded Laksaman, A4, the text as the HTML says it, no line
starting with a mark), and saying what a certificate must: number, area, province, dates in
the Buddhist era and in English, the verification link, the signature with its key id."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from smartcity_th.contracts.approvals import CertificationAwarded, ValidityPeriod
from smartcity_th.contracts.certificate_seal import ISSUER, seal
from smartcity_th.contracts.common import BilingualText
from smartcity_th.contracts.signing import key_id_for, raw_public_key
from smartcity_th.services.common.certificate_document import (
    CertificateFacts,
    certificate_url,
    render_certificate,
)
from smartcity_th.services.notifications.pdf import letter_pdf
from tests.pdfcheck import page_sizes, poppler, problems, squeezed

KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"certificate-pdf").digest())
KEY_ID = key_id_for(ISSUER, raw_public_key(KEY))
AWARD = seal(
    CertificationAwarded(
        certificate_number="SCT-2566-0003",
        area_name=BilingualText(th="กรุงเทพมหานครเมืองอัจฉริยะ", en="Bangkok Smart City"),
        province_code="10",
        subcommittee_meeting_id="1/2565",
        validity=ValidityPeriod.starting(dt.date(2023, 1, 9)),
    ),
    "PRP-2565-0003",
    KEY,
    KEY_ID,
    dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC),
)
URL = certificate_url("https://smartcity.example.go.th", "SCT-2566-0003")


def test_the_certificate_pdf_passes_the_letters_checks_and_states_its_facts(
    tmp_path: Path,
) -> None:
    html = render_certificate(CertificateFacts(AWARD, "PRP-2565-0003", URL))
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(letter_pdf(html))
    assert problems(pdf, html) == []
    assert set(page_sizes(pdf)) == {(595.28, 841.89)}
    text = squeezed(poppler("pdftotext", pdf, "-raw"))
    assert AWARD.seal is not None
    for fact in (
        "ใบรับรองพื้นที่เมืองอัจฉริยะ",
        "เลขที่SCT-2566-0003",
        "กรุงเทพมหานครเมืองอัจฉริยะ",
        "ที่ตั้ง:กรุงเทพมหานคร",  # Bangkok is not a จังหวัด
        "วันที่ประกาศและมีผล:9มกราคม2566",
        "ภายในวันที่9มกราคม2568",
        "Announcedandineffectfrom:9January2023",
        "Deliverytobeshownby:9January2025",
        "Province:Bangkok",
        URL,
        KEY_ID,
        AWARD.seal.signature,
        "2026-12-06T10:00:00Z",
        "เวลาที่ลงนาม:6ธันวาคม2569เวลา17.00น.",  # read as a Thai reader reads a time
        "Signedat:6December2026,17:00Thailandtime",
    ):
        assert squeezed(fact) in text, fact
    assert text.index("ใบรับรองพื้นที่เมืองอัจฉริยะ") < text.index("Smart-CityAreaCertificate")
    assert "docs/" not in text  # nothing of the software's own files on a certificate


def test_an_unsigned_certificate_says_so() -> None:
    html = render_certificate(
        CertificateFacts(AWARD.model_copy(update={"seal": None}), "PRP-2565-0003", URL)
    )
    assert "ใบรับรองนี้ไม่มีลายมือชื่ออิเล็กทรอนิกส์" in html
    assert "This certificate is not signed." in html
