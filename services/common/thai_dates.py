"""Dates as Thai and English readers write them: day, month name, year (Buddhist era in Thai),
in Thailand's time zone for a moment. One definition for the letters, the certificates and
their public page."""

from __future__ import annotations

import datetime as dt

THAI_MONTHS = (
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
)
THAILAND = dt.timezone(dt.timedelta(hours=7))


def thai_date(value: dt.date | dt.datetime) -> str:
    """6 สิงหาคม 2565: day, Thai month, Buddhist-era year (in Thailand's time zone)."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(THAILAND).date()
    return f"{value.day} {THAI_MONTHS[value.month - 1]} {value.year + 543}"


def english_date(value: dt.date | dt.datetime) -> str:
    """6 August 2022."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(THAILAND).date()
    return f"{value.day} {value.strftime('%B')} {value.year}"
