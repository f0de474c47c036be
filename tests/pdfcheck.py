"""Reading a letter's PDF back with poppler's tools (pdffonts, pdfinfo, pdftotext; installed by
infra/install-pdf-tools.sh): what the PDF tests assert and what the benchmark's comparison of
typesetters counts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from smartcity_th.services.notifications.pdf import LETTER_FONT
from smartcity_th.services.notifications.proofread import visible_text

# A line of extracted text that starts with one of these means broken shaping or line breaking:
# SARA AM's and the other following vowels, the upper and lower vowels, the tone marks.
THAI_MARK_FIRST = re.compile(r"^[\u0E31\u0E34-\u0E3A\u0E47-\u0E4E]")
A4_POINTS = (595.28, 841.89)
LETTER_FONTS = {LETTER_FONT, f"{LETTER_FONT}-Bold"}


def poppler(tool: str, pdf: Path, *args: str) -> str:
    done = subprocess.run(
        [tool, *args, str(pdf), *(["-"] if tool == "pdftotext" else [])],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def fonts(pdf: Path) -> list[tuple[str, bool]]:
    """Each font of the PDF: its name without the subset prefix, and whether it is embedded."""
    rows = poppler("pdffonts", pdf).splitlines()[2:]
    return [(row.split()[0].rpartition("+")[2], row.split()[-5] == "yes") for row in rows]


def page_sizes(pdf: Path) -> list[tuple[float, float]]:
    """Each page's width and height in points, to 0.01."""
    pages = poppler("pdfinfo", pdf, "-l", "1000")
    return [
        (round(float(w), 2), round(float(h), 2))
        for w, h in re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", pages, re.M)
    ]


def on_paper(html: str) -> str:
    """What the letter says on paper: the HTML part's visible text without the note below the
    letters (the print stylesheet leaves it out), each link followed by its address (the
    print stylesheet writes it out)."""
    body = html.split("</title>", 1)[-1]
    body = re.sub(r'<div class="email-note".*?</div>', "", body, flags=re.S)
    return visible_text(re.sub(r'<a href="([^"]+)">(.*?)</a>', r"\2 \1", body))


def squeezed(text: str) -> str:
    """Text without whitespace: a Thai line breaks inside a run of words without a space."""
    return re.sub(r"\s+", "", text)


def lines_starting_with_a_mark(pdf: Path) -> list[str]:
    """Lines of pdftotext's output (in typeset order, as laid out, and in its reading order)
    that start with a following vowel, an upper or lower vowel or a tone mark."""
    return [
        line
        for mode in (["-raw"], ["-layout"], [])
        for line in poppler("pdftotext", pdf, *mode).splitlines()
        if THAI_MARK_FIRST.match(line.strip())
    ]


def problems(pdf: Path, html: str) -> list[str]:
    """Every way the PDF of the email HTML part `html` falls short, in words."""
    found = []
    used = fonts(pdf)
    if not used or any(name not in LETTER_FONTS or not embedded for name, embedded in used):
        found.append(f"fonts {used}")
    sizes = {size for size in page_sizes(pdf) if size != A4_POINTS}
    if sizes:
        found.append(f"page size {sorted(sizes)} (A4 is {A4_POINTS})")
    text = poppler("pdftotext", pdf, "-raw")
    want, got = squeezed(on_paper(html)), squeezed(text)
    if got != want:
        at = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), 0)
        found.append(f"text differs at {at}: {got[max(0, at - 12) : at + 12]!r}")
    marked = lines_starting_with_a_mark(pdf)
    if marked:
        found.append(f"{len(marked)} lines start with a mark: {marked[:2]}")
    return found
