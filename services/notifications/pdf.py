"""The letter as a PDF: the email's own HTML part (the same template, not a second one),
typeset by WeasyPrint with the print stylesheet `letter-print.css` (A4, the margins of the
Thai external-letter form, the government's font as Debian ships it: Laksaman).

Deterministic: the same HTML gives the same bytes. A PDF whose text is set in any font but
Laksaman is never made silently: the service refuses to start without the font
(`require_letter_font`), and a letter that needed another font for some character is logged.

WeasyPrint maps each glyph of a font to one text for the whole document (the text of the first
cluster it was drawn in), which is wrong for Thai: SARA AM is drawn as NIKHAHIT + SARA AA, so
every later SARA AA would be read back as SARA AM, and marks positioned above a vowel are read
as lines of their own. Each line of text is therefore marked with its real text (PDF
`/ActualText`, ISO 32000-1 14.9.4), which text extraction (poppler's pdftotext, Acrobat,
PDFium) uses instead of the glyph map. docs/notifications.md, "The letter as a PDF".

WeasyPrint (with Pango, fontconfig and their Python bindings, about 30 MB of a process) is
imported when the first letter is typeset, not with this module: a service that sends its
letters without PDFs (`NOTIFICATIONS_LETTER_PDF=false`) never loads it."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import cache, cached_property
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import structlog

from smartcity_th.services.common.cli import StartupRefused
from smartcity_th.services.notifications.metrics import RENDER_CPU

if TYPE_CHECKING:
    import weasyprint
    from weasyprint.text.fonts import FontConfiguration

log = structlog.get_logger(__name__)

# The PDFs a process keeps for a letter's next attempt or resend (about 23 KiB each).
RECENT_PDFS = 32
LETTER_FONT = "Laksaman"
STYLESHEET = "letter-print.css"
INSTALL_HINT = "install Debian's fonts-tlwg-laksaman (infra/install-pdf-tools.sh)"
# What the start-up check typesets: Latin first (no Thai glyph is asked of a fallback font,
# which would log a warning per character), then Thai and English as a letter has them.
PROBES = (
    "<p>Laksaman</p>",
    '<html lang="th"><body><p>สำนักงานส่งเสริมเศรษฐกิจดิจิทัล ที่ประชุม น้ำ</p>'
    '<div lang="en"><p>Digital Economy Promotion Agency</p></div></body></html>',
)


class LetterFontMissing(StartupRefused):
    """The letters' font is not installed: fontconfig would put another in its place."""


class LetterPdfFailed(Exception):
    """WeasyPrint could not typeset this letter (the same HTML would fail again)."""


# A meeting or letter number (1/2565, 0505/ว 123): Pango breaks a Thai run after its slash
# (libthai finds a break there), which no Thai reader accepts, so on paper it stays whole.
NUMBER_WITH_SLASH = re.compile(r"(?<![\w/.:-])\d+(?:/(?:ว\s?)?\d+)+(?![\w/])")
TEXT_BETWEEN_TAGS = re.compile(r">([^<]+)<")


def keep_numbers_whole(html: str) -> str:
    """`html` with each number with a slash in its body's text kept on one line."""
    head, body_tag, body = html.partition("<body")
    if not body_tag:
        head, body = "", html

    def whole(text: re.Match[str]) -> str:
        kept = NUMBER_WITH_SLASH.sub(
            lambda number: f'<span style="white-space: nowrap">{number.group()}</span>',
            text.group(1),
        )
        return f">{kept}<"

    return head + body_tag + TEXT_BETWEEN_TAGS.sub(whole, body)


_patched = threading.Lock()
_rendering = threading.Lock()


def _mark_lines_with_their_text() -> None:
    """Wrap every line WeasyPrint draws in a `/Span <</ActualText (its text)>> BDC ... EMC`
    marked-content sequence (once per process)."""
    import pydyf
    from weasyprint.draw import text as weasyprint_text

    with _patched:
        draw_first_line = weasyprint_text.draw_first_line
        if getattr(draw_first_line, "marks_actual_text", False):
            return

        def with_actual_text(
            stream: Any, textbox: Any, text_overflow: Any, block_ellipsis: Any, matrix: Any
        ) -> Any:
            if not textbox.text.strip():
                return draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix)
            actual = pydyf.Dictionary({"ActualText": pydyf.String(textbox.text)})
            stream.begin_marked_content("Span", actual)
            try:
                return draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix)
            finally:
                stream.end_marked_content()

        with_actual_text.marks_actual_text = True  # type: ignore[attr-defined]
        weasyprint_text.draw_first_line = with_actual_text


class LetterPdf:
    """Renders letters to PDF. `render_async` runs on the renderer's own thread, so the event
    loop stays free meanwhile; the process renders one letter at a time (WeasyPrint does not
    promise that two threads may typeset at once)."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="letter-pdf")
        self._recent: OrderedDict[bytes, bytes] = OrderedDict()

    @cached_property
    def _font_config(self) -> FontConfiguration:
        """One for every letter: WeasyPrint makes a new one (a Pango font map) for each
        document otherwise, and the process grew by 0.2 MB per letter, without end."""
        from weasyprint.text.fonts import FontConfiguration

        _mark_lines_with_their_text()
        return FontConfiguration()

    @cached_property
    def _stylesheet(self) -> weasyprint.CSS:
        import weasyprint

        css = files("smartcity_th.services.notifications").joinpath(STYLESHEET)
        return weasyprint.CSS(string=css.read_text(encoding="utf-8"), font_config=self._font_config)

    def fonts(self, html: str) -> tuple[bytes, set[str]]:
        """The PDF of `html` and the families of the fonts its text is set in."""
        import weasyprint

        with _rendering:
            document = weasyprint.HTML(string=keep_numbers_whole(html)).render(
                stylesheets=[self._stylesheet],
                presentational_hints=True,
                font_config=self._font_config,
            )
            pdf = document.write_pdf()
            return pdf, {font.family for font in document.fonts.values()}

    def render(self, html: str, part: str = "pdf") -> bytes:
        """The PDF of the letter whose email HTML part is `html` (its CPU time is observed as
        `part`: the letter's "pdf", or the award's "certificate")."""
        started = time.thread_time()
        try:
            pdf, families = self.fonts(html)
        except Exception as exc:
            raise LetterPdfFailed(f"{type(exc).__name__}: {exc}") from exc
        finally:
            RENDER_CPU.labels(part).observe(time.thread_time() - started)
        if families - {LETTER_FONT}:
            log.warning(
                "notify.pdf_other_fonts",
                fonts=sorted(families - {LETTER_FONT}),
                hint="a character the letter's font has no glyph for",
            )
        return pdf

    async def render_async(self, html: str, part: str = "pdf") -> bytes:
        """`render` on the renderer's own thread, once per letter: the same HTML gives the
        same bytes, so the PDFs of the last RECENT_PDFS letters are kept for their next
        attempt, or for the email that resends a letter to a recipient the server refused."""
        key = hashlib.sha256(f"{part}\0{html}".encode()).digest()
        pdf = self._recent.get(key)
        if pdf is None:
            pdf = await asyncio.get_running_loop().run_in_executor(
                self._thread, self.render, html, part
            )
            self._recent[key] = pdf
            while len(self._recent) > RECENT_PDFS:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(key)
        return pdf

    def require_font(self) -> None:
        """Raise LetterFontMissing unless fontconfig has Laksaman itself (asked first: Pango
        crashes on a machine with no font at all) and the probes are set in it alone."""
        found = matched_family(LETTER_FONT)
        for probe in PROBES if found == LETTER_FONT else ():
            _pdf, families = self.fonts(probe)
            found = ", ".join(sorted(families)) or None
            if families != {LETTER_FONT}:
                break
        if found != LETTER_FONT:
            raise LetterFontMissing(
                f"the letters' PDF font {LETTER_FONT} is not installed (fontconfig gave "
                f"{found or 'no font at all'}); {INSTALL_HINT}"
            )


def matched_family(family: str) -> str | None:
    """The family fontconfig gives for `family` (what `fc-match` prints), through the
    fontconfig library WeasyPrint loaded; None when it has no font at all."""
    from weasyprint.text.ffi import ffi, fontconfig

    config = fontconfig.FcInitLoadConfigAndFonts()
    pattern = fontconfig.FcPatternCreate()
    try:
        fontconfig.FcPatternAddString(pattern, b"family", family.encode())
        fontconfig.FcConfigSubstitute(config, pattern, fontconfig.FcMatchPattern)
        fontconfig.FcDefaultSubstitute(pattern)
        match = fontconfig.FcFontMatch(config, pattern, ffi.new("FcResult *"))
        if match == ffi.NULL:
            return None
        try:
            value = ffi.new("FcChar8 **")
            if fontconfig.FcPatternGetString(match, b"family", 0, value) != 0:
                return None
            return str(ffi.string(value[0]).decode())
        finally:
            fontconfig.FcPatternDestroy(match)
    finally:
        fontconfig.FcPatternDestroy(pattern)
        fontconfig.FcConfigDestroy(config)


@cache
def shared_renderer() -> LetterPdf:
    """The process's renderer (its stylesheet parsed once)."""
    return LetterPdf()


def letter_pdf(html: str) -> bytes:
    """The PDF of the letter whose email HTML part is `html`."""
    return shared_renderer().render(html)
