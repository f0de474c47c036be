"""`make letter-screenshots`: the first page of three sample letters' PDFs (the
acknowledgement, the subcommittee's approval, the award), as the notifications service renders
and attaches them (services/notifications/pdf.py), to PNG with poppler's pdftoppm in
docs/screenshots/letter-<kind>.png; their PDFs beside them in .local/screenshots/. Also the
certificate the award letter encloses, docs/screenshots/certificate.png, sealed with a sample
key of svc-approvals (derived from a fixed seed: not the stack's key)."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from smartcity_th.contracts.approvals import CertificationAwarded
from smartcity_th.contracts.certificate_seal import ISSUER, seal
from smartcity_th.contracts.signing import key_id_for, raw_public_key
from smartcity_th.services.common.certificate_document import (
    CertificateFacts,
    certificate_url,
    render_certificate,
)
from smartcity_th.services.notifications.pdf import letter_pdf
from smartcity_th.services.notifications.samples import payloads, sample_letters

ROOT = Path(__file__).resolve().parents[1]
KINDS = {
    "ProposalSubmitted": "acknowledgement",
    "SubcommitteeApproved": "subcommittee-approval",
    "CertificationAwarded": "award",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--pdfs", type=Path, default=ROOT / ".local" / "screenshots")
    parser.add_argument("--dpi", type=int, default=100)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.pdfs.mkdir(parents=True, exist_ok=True)
    letters = sample_letters()
    for kind, name in KINDS.items():
        pdf = args.pdfs / f"letter-{name}.pdf"
        pdf.write_bytes(letter_pdf(letters[kind].html))
        png = args.out / f"letter-{name}"
        first_page = ["-f", "1", "-l", "1", "-singlefile"]
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(args.dpi), *first_page, str(pdf), str(png)], check=True
        )
        print(f"{png}.png  (from {pdf})")
    pdf = args.pdfs / "certificate.pdf"
    pdf.write_bytes(letter_pdf(sample_certificate()))
    png = args.out / "certificate"
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            str(args.dpi),
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            *[str(pdf), str(png)],
        ],
        check=True,
    )
    print(f"{png}.png  (from {pdf})")
    return 0


def sample_certificate() -> str:
    """The sample award's certificate, as the award letter encloses it."""
    key = Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"smartcity-sample:svc-approvals").digest()
    )
    award = payloads()["CertificationAwarded"]
    assert isinstance(award, CertificationAwarded)
    proposal_id = "PRP-2565-0001"
    sealed = seal(
        award,
        proposal_id,
        key,
        key_id_for(ISSUER, raw_public_key(key)),
        dt.datetime(2023, 1, 9, 3, 0, tzinfo=dt.UTC),
    )
    url = certificate_url("https://smartcity.example.go.th", award.certificate_number)
    return render_certificate(CertificateFacts(sealed, proposal_id, url))


if __name__ == "__main__":
    raise SystemExit(main())
