"""Every letter kind as its PDF, typeset by the real WeasyPrint and read back with poppler's
real tools (infra/install-pdf-tools.sh): only the embedded Laksaman, A4, the email's own text
with the Thai intact, no line starting with a following vowel or a tone mark, the English
letter on a page of its own after the Thai one. Also the message that carries it, and the
service's refusal to start without the font."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from smartcity_th.services.notifications.messages import Attachment, build_message, pdf_filename
from smartcity_th.services.notifications.pdf import (
    LETTER_FONT,
    keep_numbers_whole,
    letter_pdf,
    matched_family,
    shared_renderer,
)
from smartcity_th.services.notifications.rendering import RenderedEmail, split_subject
from smartcity_th.services.notifications.samples import sample_letters
from tests.pdfcheck import (
    A4_POINTS,
    LETTER_FONTS,
    fonts,
    lines_starting_with_a_mark,
    on_paper,
    page_sizes,
    poppler,
    squeezed,
)

ROOT = Path(__file__).resolve().parents[2]
LETTERS = sample_letters()


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("letters")
    paths = {}
    for kind, email in LETTERS.items():
        paths[kind] = folder / f"{kind}.pdf"
        paths[kind].write_bytes(letter_pdf(email.html))
    return paths


@pytest.mark.parametrize("kind", list(LETTERS))
def test_each_letter_is_an_a4_pdf_in_the_embedded_laksaman_alone(
    kind: str, pdfs: dict[str, Path]
) -> None:
    used = fonts(pdfs[kind])
    assert (LETTER_FONT, True) in used, used
    assert {name for name, _ in used} <= LETTER_FONTS, used
    assert all(embedded for _, embedded in used), used
    sizes = page_sizes(pdfs[kind])
    assert sizes, kind
    assert set(sizes) == {A4_POINTS}, sizes


@pytest.mark.parametrize("kind", list(LETTERS))
def test_each_pdf_reads_back_as_the_email_with_the_thai_intact(
    kind: str, pdfs: dict[str, Path]
) -> None:
    email: RenderedEmail = LETTERS[kind]
    # In the order it was typeset (-raw): the default order is poppler's guess at columns,
    # and it joins a word hyphenated at a line's end, dropping the hyphen.
    text = poppler("pdftotext", pdfs[kind], "-raw")
    assert squeezed(text) == squeezed(on_paper(email.html)), kind
    assert lines_starting_with_a_mark(pdfs[kind]) == [], kind
    matter_th, matter_en = split_subject(email.subject)
    assert squeezed(matter_th) in squeezed(text)
    assert squeezed(matter_en) in squeezed(text)


@pytest.mark.parametrize("kind", ["ProposalSubmitted", "CabinetReturned", "Digest"])
def test_the_english_letter_follows_the_thai_on_pages_of_its_own(
    kind: str, pdfs: dict[str, Path]
) -> None:
    pages = poppler("pdftotext", pdfs[kind]).split("\f")
    thai = [i for i, page in enumerate(pages) if "เรียน" in page]
    english = [i for i, page in enumerate(pages) if re.search(r"\bDear\b", page)]
    assert len(thai) == 1
    assert len(english) == 1
    assert english[0] > thai[0]


def test_the_same_letter_gives_the_same_bytes() -> None:
    html = LETTERS["SubcommitteeApproved"].html
    assert letter_pdf(html) == letter_pdf(html)


def test_a_letter_is_typeset_once_for_all_its_attempts() -> None:
    """The sender asks for the same letter's PDF again on a retry and for a resend to a
    refused recipient: it is typeset once (the render CPU histogram counts one), the bytes
    are the same."""
    html = LETTERS["CabinetEndorsed"].html
    renderer = shared_renderer()

    def typeset() -> float:
        count = REGISTRY.get_sample_value(
            "smartcity_letter_render_cpu_seconds_count", {"part": "pdf"}
        )
        return count or 0.0

    async def twice() -> tuple[bytes, bytes, float]:
        before = typeset()
        first = await renderer.render_async(html)
        again = await renderer.render_async(html)
        return first, again, typeset() - before

    first, again, counted = asyncio.run(twice())
    assert first == again == letter_pdf(html)
    assert counted == 1


def test_laksaman_is_installed_under_its_own_name() -> None:
    assert matched_family(LETTER_FONT) == LETTER_FONT


def test_the_message_carries_the_letter_as_a_named_pdf() -> None:
    email = LETTERS["ProposalSubmitted"]
    pdf = letter_pdf(email.html)
    name = pdf_filename(split_subject(email.subject)[1], "PRP-2565-0001")
    assert name == "PRP-2565-0001-smart-city-proposal-received-phuket-smart-city.pdf"
    built = build_message(
        subject=email.subject,
        text=email.text,
        html=email.html,
        from_name="สำนักงานเมืองอัจฉริยะประเทศไทย",
        from_email="smartcity-office@depa.example.go.th",
        to_name="เทศบาลนครภูเก็ต",
        to_email="smartcity@phuketcity.example.go.th",
        msg_id="<x@example.go.th>",
        attachments=[Attachment(name, pdf)],
    )
    msg = message_from_bytes(built.as_bytes(), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg.get_content_type() == "multipart/mixed"
    parts = [p.get_content_type() for p in msg.walk()]
    assert parts == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
    ]
    [attached] = list(msg.iter_attachments())
    assert attached.get_filename() == name
    assert attached.get_content() == pdf


def test_a_filename_is_ascii_whatever_the_matter() -> None:
    assert pdf_filename('Digest: 2 updates, 7 August 2022 – "Phuket"') == (
        "digest-2-updates-7-august-2022-phuket.pdf"
    )
    assert pdf_filename("ได้รับข้อเสนอ") == "letter.pdf"
    assert len(pdf_filename("x" * 300, "PRP-2565-0001")) <= 80


def test_the_service_refuses_to_start_without_the_font_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "fonts").mkdir()
    config = tmp_path / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{tmp_path / 'fonts'}</dir><cachedir>{tmp_path / 'cache'}</cachedir>"
        "</fontconfig>",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "smartcity_th.services.notifications", "serve"],
        cwd=ROOT,
        env={**os.environ, "FONTCONFIG_FILE": str(config), "NOTIFICATIONS_HTTP_PORT": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "notifications: error: the letters' PDF font Laksaman is not installed (fontconfig "
        "gave no font at all); install Debian's fonts-tlwg-laksaman "
        "(infra/install-pdf-tools.sh)"
    ]


def test_a_number_with_a_slash_stays_on_one_line(pdfs: dict[str, Path]) -> None:
    """Pango (through libthai) would break ครั้งที่ 1/|2565 after the slash."""
    split = {
        kind: re.findall(r"\d/\n\d", poppler("pdftotext", path, "-raw"))
        for kind, path in pdfs.items()
    }
    assert {kind: found for kind, found in split.items() if found} == {}
    assert 'white-space: nowrap">1/2565<' in keep_numbers_whole(
        LETTERS["SubcommitteeApproved"].html
    )


RENDER_MANY = """
import gc, sys
from pathlib import Path
from smartcity_th.services.notifications.pdf import letter_pdf
from smartcity_th.services.notifications.samples import sample_letters

def rss_mb():
    status = Path("/proc/self/status").read_text()
    return int(next(l for l in status.splitlines() if l.startswith("VmRSS")).split()[1]) / 1024

letters = [email.html for email in sample_letters().values()]
for html in letters * 2:
    letter_pdf(html)
gc.collect()
before = rss_mb()
for html in letters * 5:
    letter_pdf(html)
gc.collect()
print(rss_mb() - before)
"""


def test_rendering_letters_does_not_grow_the_process() -> None:
    """WeasyPrint with a font configuration per document grew by about 0.2 MB a letter (a
    long-running sender would run out of memory); 100 letters after 40 now add under 8 MB."""
    done = subprocess.run(
        [sys.executable, "-c", RENDER_MANY],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert float(done.stdout.strip()) < 8, done.stdout


def test_the_service_loads_weasyprint_only_to_typeset_a_letter() -> None:
    """Without PDFs (`NOTIFICATIONS_LETTER_PDF=false`) the service never pays WeasyPrint's
    memory: importing the service, its sender and the renderer does not load it."""
    code = (
        "import sys\n"
        "from smartcity_th.services.notifications import bootstrap, pdf, sender\n"
        "pdf.shared_renderer()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('weasyprint', 'pydyf')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
