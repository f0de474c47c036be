"""`make letter-screenshots`: the first page of three sample letters' PDFs (the
acknowledgement, the subcommittee's approval, the award), as the notifications service renders
and attaches them (services/notifications/pdf.py), to PNG with poppler's pdftoppm in
docs/screenshots/letter-<kind>.png; their PDFs beside them in .local/screenshots/."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from smartcity_th.services.notifications.pdf import letter_pdf
from smartcity_th.services.notifications.samples import sample_letters

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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
