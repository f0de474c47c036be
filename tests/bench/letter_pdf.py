"""CPU time of rendering one letter's PDF (services/notifications/pdf.py, WeasyPrint), what
`make bench` reports as `letter_pdf_cpu_ms` (median and p95 over every sample letter kind,
`rounds` times each after one warm-up round), with the pages and bytes per letter and how many
letters fail the PDF checks (tests/pdfcheck.py).

`python -m tests.bench.letter_pdf --compare` also typesets the same letters, with the same
print stylesheet, in Debian's Chromium (headless, kept running, driven by Playwright as a
service would drive it) and runs the same checks: the comparison in docs/notifications.md.
Chromium's CPU is this process's (the Playwright client) and that of every process below it
(the Playwright driver, Chromium's), read from /proc: a clock tick (10 ms) at a time."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

from smartcity_th.services.notifications.pdf import STYLESHEET, keep_numbers_whole, letter_pdf
from smartcity_th.services.notifications.samples import sample_letters
from tests.bench.stats import percentile
from tests.pdfcheck import poppler, problems

CHROMIUM = Path("/usr/bin/chromium")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "median": round(statistics.median(ms), 1),
        "p95": round(percentile(ms, 95), 1),
        "max": round(max(ms), 1),
        "n": len(ms),
    }


def checked(render: Any, letters: dict[str, Any]) -> dict[str, Any]:
    """Pages, bytes and problems of each letter's PDF made by `render(html) -> bytes`."""
    out: dict[str, Any] = {"pages": [], "bytes": [], "problems": {}}
    with tempfile.TemporaryDirectory() as folder:
        for kind, email in letters.items():
            path = Path(folder) / f"{kind}.pdf"
            path.write_bytes(render(email.html))
            info = poppler("pdfinfo", path)
            pages = next(line for line in info.splitlines() if line.startswith("Pages:"))
            out["pages"].append(int(pages.split()[1]))
            out["bytes"].append(path.stat().st_size)
            found = problems(path, email.html)
            if found:
                out["problems"][kind] = found
    return out


def measure(rounds: int = 5) -> dict[str, Any]:
    letters = sample_letters()
    for email in letters.values():
        letter_pdf(email.html)  # warm-up: the stylesheet, fonts, caches
    cpu: list[float] = []
    for _ in range(rounds):
        for email in letters.values():
            started = time.process_time()
            letter_pdf(email.html)
            cpu.append(time.process_time() - started)
    seen = checked(letter_pdf, letters)
    return {
        "letter_pdf_cpu_ms": summary(cpu),
        "letter_pdf_kinds": len(letters),
        "letter_pdf_pages": {"min": min(seen["pages"]), "max": max(seen["pages"])},
        "letter_pdf_kib_median": round(statistics.median(seen["bytes"]) / 1024, 1),
        "letter_pdf_failing_checks": seen["problems"],
    }


def _children_cpu_seconds(root: int) -> float:
    """User + system CPU of every process below `root`, from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0) if pid != root else 0.0
        stack += [child for child, parent in parents.items() if parent == pid]
    return total


def measure_chromium(rounds: int = 5) -> dict[str, Any]:
    """The same letters and stylesheet typeset by Chromium's print-to-PDF."""
    from playwright.sync_api import sync_playwright

    css = files("smartcity_th.services.notifications").joinpath(STYLESHEET).read_text("utf-8")
    letters = sample_letters()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()

        def render(html: str) -> bytes:
            page.set_content(keep_numbers_whole(html))
            page.add_style_tag(content=css)
            return page.pdf(prefer_css_page_size=True, print_background=True)

        for email in letters.values():
            render(email.html)
        cpu: list[float] = []
        for _ in range(rounds):
            for email in letters.values():
                children, own = _children_cpu_seconds(os.getpid()), time.process_time()
                render(email.html)
                own = time.process_time() - own
                cpu.append(own + _children_cpu_seconds(os.getpid()) - children)
        seen = checked(render, letters)
        version = browser.version
        browser.close()
    return {
        "chromium": version,
        "cpu_ms": summary(cpu),
        "pages": {"min": min(seen["pages"]), "max": max(seen["pages"])},
        "kib_median": round(statistics.median(seen["bytes"]) / 1024, 1),
        "failing_checks": seen["problems"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compare", action="store_true", help="also Chromium's print-to-PDF")
    args = parser.parse_args()
    result: dict[str, Any] = {"weasyprint": measure(args.rounds)}
    if args.compare:
        result["chromium"] = measure_chromium(args.rounds)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
