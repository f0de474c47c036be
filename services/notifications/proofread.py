"""Proofreading an email as a Thai official would, pure: the faults issue 15 found, as rules.

`problems()` lists what is wrong with one rendered email (subject, text part, HTML part); the
template tests run it over every letter, and the demo's end-to-end test over the emails the
demo really sends. A letter must have its form (เรื่อง, เรียน, the purpose line, ขอแสดงความนับถือ
and the sending office; Subject, Dear, Yours faithfully), Thai first, and no text meant for
machines: no event or stage codes, UUIDs, field paths or unfilled placeholders."""

from __future__ import annotations

import html as html_lib
import re

from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import Stage

EVENT_CODE = re.compile(r"\b(" + "|".join(sorted(EVENTS, key=len, reverse=True)) + r")\b")
STAGE_CODE = re.compile(r"\b(" + "|".join(s.value for s in Stage) + r")\b")
UNDERSCORED_CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
FIELD_PATH = re.compile(
    r"\b(?:content|payload|body|plan|province|area_name|meeting|validity|decisions)"
    r"\.[A-Za-z0-9_.]+"
)
PLACEHOLDER = re.compile(
    r"\{\{|\}\}|\{%|%\}|\bNone\b|\bnull\b|\bundefined\b|\bTODO\b|\bTBD\b|\bXXX\b"
    r"|illustrative-\d|<[a-z-]+>|:\s*-\s*$",
    re.MULTILINE,
)
URL_OR_ADDRESS = re.compile(r"https?://\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
THAI = re.compile(r"[\u0E00-\u0E7F]")
ENGLISH_RUN = re.compile(r"\b[A-Za-z]{2,}(?:[ ,;:'\"()]+[A-Za-z]{2,}){2,}")
"""Three English words in a row: English written into a Thai sentence."""
THAI_RUN = re.compile(r"[\u0E00-\u0E7F]{6,}")
"""Six Thai characters in a row (a Thai word or more: official numbers such as นร 0505/ว are
shorter): Thai written into the English letter."""
WRONG_PHRASES = {
    "จังหวัดกรุงเทพมหานคร": "Bangkok is not a จังหวัด",
    "คณะอนุกรรมการขับเคลื่อนเมืองอัจฉริยะ": "wrong name of the subcommittee",
    "คณะกรรมการขับเคลื่อนเมืองอัจฉริยะ": "wrong name of the steering committee",
    "มติคณะรัฐมนตรีที่ นร": "a Cabinet resolution is named by its date, not by a circular number",
    "ถูกถอนโดย": "phrasing translated from English",
    "สำนักงานจังหวัด": "the governor's office is not สำนักงานจังหวัด",
}
THAI_FORM = (
    "ที่ ",
    "เรื่อง",
    "เรียน",
    "จึงเรียนมาเพื่อโปรดทราบ",
    "ขอแสดงความนับถือ",
    "สำนักงานเมืองอัจฉริยะประเทศไทย",
    "โทร.",
    "ไปรษณีย์อิเล็กทรอนิกส์",
)
ENGLISH_FORM = (
    "No. ",
    "Subject:",
    "Dear ",
    "Yours faithfully,",
    "Smart City Thailand Office",
    "Tel.",
)
ENGLISH_START = re.compile(r"^\s*No\. ", re.MULTILINE)
"""The first line of the English letter (its number)."""
NOTE_START = re.compile(r"^\s*ข้อมูลสำหรับติดตามข้อเสนอ", re.MULTILINE)
"""The first line of the note below both letters (the proposal's facts, in both languages)."""


def visible_text(html: str) -> str:
    """What a reader of the HTML part sees: tags dropped, entities decoded."""
    without = re.sub(r"<(script|style|title)\b.*?</\1>", " ", html, flags=re.S | re.I)
    without = re.sub(r"<br\s*/?>|</p>|</tr>|</h\d>", "\n", without, flags=re.I)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", without))


def _split(text: str) -> tuple[str, str]:
    """The Thai part and the English part of a letter (Thai first), without the bilingual
    note below them: the English letter begins with its number."""
    note = NOTE_START.search(text)
    if note is not None:
        text = text[: note.start()]
    match = ENGLISH_START.search(text)
    return (text, "") if match is None else (text[: match.start()], text[match.start() :])


def _check_part(label: str, text: str, thai: str | None = None) -> list[str]:
    found: list[str] = []
    plain = URL_OR_ADDRESS.sub(" ", text)
    for pattern, what in (
        (EVENT_CODE, "an event code"),
        (UNDERSCORED_CODE, "a code"),
        (UUID, "a UUID"),
        (FIELD_PATH, "a field path"),
        (PLACEHOLDER, "a placeholder"),
    ):
        match = pattern.search(plain)
        if match:
            found.append(f"{label}: {what}: {match.group(0)!r}")
    thai = _split(plain)[0] if thai is None else thai
    for line in thai.splitlines():
        if THAI.search(line):
            match = STAGE_CODE.search(line)
            if match:
                found.append(f"{label}: a stage code in a Thai sentence: {match.group(0)!r}")
            english = ENGLISH_RUN.search(line)
            if english:
                found.append(f"{label}: English in the Thai letter: {english.group(0)!r}")
    english_part = _split(plain)[1]
    for line in english_part.splitlines():
        match = THAI_RUN.search(line)
        if match:
            found.append(f"{label}: Thai in the English letter: {match.group(0)!r}")
            break
    for phrase, why in WRONG_PHRASES.items():
        if phrase in text:
            found.append(f"{label}: {phrase!r} ({why})")
    return found


def problems(subject: str, text: str, html: str) -> list[str]:
    """Everything wrong with one email (empty: it reads as a letter an official would sign)."""
    found: list[str] = []
    if "\n" in subject or "\r" in subject:
        found.append("subject: more than one line")
    found += _check_part("subject", subject, thai=subject.partition(" | ")[0])
    for label, body in (("text", text), ("html", visible_text(html))):
        found += _check_part(label, body)
        thai, english = _split(body)
        if not english:
            found.append(f"{label}: no English part after the Thai")
        for mark in THAI_FORM:
            if mark not in thai:
                found.append(f"{label}: the Thai letter has no {mark!r}")
        for mark in ENGLISH_FORM:
            if mark not in english:
                found.append(f"{label}: the English letter has no {mark!r}")
        if "ขอแสดงความนับถือ" in thai and "จึงเรียนมาเพื่อโปรดทราบ" in thai:
            if thai.index("จึงเรียนมาเพื่อโปรดทราบ") > thai.index("ขอแสดงความนับถือ"):
                found.append(f"{label}: the purpose line comes after ขอแสดงความนับถือ")
            if "สำนักงานเมืองอัจฉริยะประเทศไทย" not in thai[thai.index("ขอแสดงความนับถือ") :]:
                found.append(f"{label}: no sending office under ขอแสดงความนับถือ")
    return found
