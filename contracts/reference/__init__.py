"""Reference data: Thailand's 77 provinces, the seven smart-city dimensions, the certified areas.

The facts live in the CSV files beside this module and are read lazily (once, cached) through
`importlib.resources`, so importing this module does no I/O.

- `provinces.csv`: the 76 provinces and Bangkok, keyed by the 2-digit Ministry of Interior
  (TIS 1099) code, with the ISO 3166-2:TH code, the Thai and English names and the region in
  the six-region system of the National Geographical Committee.
- `certified_areas.csv`: the areas certified as smart cities, by subcommittee meeting.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files

__all__ = [
    "CertifiedArea",
    "Province",
    "Region",
    "SmartDimension",
    "UnknownProvince",
    "certified_areas",
    "province",
    "provinces",
]


class Region(StrEnum):
    """The six regions of the National Geographical Committee."""

    CENTRAL = "central"
    NORTH = "north"
    NORTHEAST = "northeast"
    EAST = "east"
    WEST = "west"
    SOUTH = "south"

    @property
    def label_th(self) -> str:
        return _REGION_TH[self]


_REGION_TH: dict[Region, str] = {
    Region.CENTRAL: "ภาคกลาง",
    Region.NORTH: "ภาคเหนือ",
    Region.NORTHEAST: "ภาคตะวันออกเฉียงเหนือ",
    Region.EAST: "ภาคตะวันออก",
    Region.WEST: "ภาคตะวันตก",
    Region.SOUTH: "ภาคใต้",
}


class SmartDimension(StrEnum):
    """The seven dimensions a smart-city proposal is assessed on."""

    ENVIRONMENT = "environment"
    ECONOMY = "economy"
    MOBILITY = "mobility"
    ENERGY = "energy"
    PEOPLE = "people"
    LIVING = "living"
    GOVERNANCE = "governance"

    @property
    def label_th(self) -> str:
        return _DIMENSION_LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _DIMENSION_LABELS[self][1]


_DIMENSION_LABELS: dict[SmartDimension, tuple[str, str]] = {
    SmartDimension.ENVIRONMENT: ("สิ่งแวดล้อมอัจฉริยะ", "Smart Environment"),
    SmartDimension.ECONOMY: ("เศรษฐกิจอัจฉริยะ", "Smart Economy"),
    SmartDimension.MOBILITY: ("การเดินทางและขนส่งอัจฉริยะ", "Smart Mobility"),
    SmartDimension.ENERGY: ("พลังงานอัจฉริยะ", "Smart Energy"),
    SmartDimension.PEOPLE: ("พลเมืองอัจฉริยะ", "Smart People"),
    SmartDimension.LIVING: ("การดำรงชีวิตอัจฉริยะ", "Smart Living"),
    SmartDimension.GOVERNANCE: ("การบริหารภาครัฐอัจฉริยะ", "Smart Governance"),
}


@dataclass(frozen=True)
class Province:
    """One of the 77 top-level divisions: a province (จังหวัด) or Bangkok."""

    code: str
    iso_code: str
    name_th: str
    name_en: str
    region: Region


class UnknownProvince(ValueError):
    """The value names none of the 77 provinces."""

    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__(
            f"{value!r} is not one of Thailand's 77 provinces (76 provinces and Bangkok). "
            f"ไม่พบจังหวัด {value!r} ในรายชื่อ 77 จังหวัดของประเทศไทย"
        )


@dataclass(frozen=True)
class CertifiedArea:
    """An area certified as a smart city.

    `meeting_id` is the subcommittee meeting ("1/2564", Buddhist-era year) taken from `batch`
    ("subcommittee-1/2564"). An area whose name the public sources do not give has empty names
    and `province` None.
    """

    batch: str
    meeting_id: str | None
    area_th: str
    area_en: str
    province: Province | None
    note: str


def _read_csv(name: str) -> list[dict[str, str]]:
    text = files(__name__).joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@cache
def provinces() -> tuple[Province, ...]:
    """All 77 provinces (Bangkok included), sorted by code."""
    rows = _read_csv("provinces.csv")
    result = (
        Province(
            code=row["code"],
            iso_code=row["iso_code"],
            name_th=row["name_th"],
            name_en=row["name_en"],
            region=Region(row["region"]),
        )
        for row in rows
    )
    return tuple(sorted(result, key=lambda p: p.code))


def _fold(name: str) -> str:
    """Key for English names: case-insensitive, spaces and hyphens ignored."""
    return re.sub(r"[\s\-]+", "", name).casefold()


@cache
def _index() -> dict[str, Province]:
    index: dict[str, Province] = {}
    for p in provinces():
        index[p.code] = p
        index[p.iso_code.casefold()] = p
        index[p.name_th] = p
        index[_fold(p.name_en)] = p
    return index


def province(code_or_name: str) -> Province:
    """Find a province by 2-digit code, ISO 3166-2 code, English name or Thai name.

    English names match case-insensitively with spaces and hyphens ignored, so "Chonburi" and
    "Chon Buri" are the same province. Raises `UnknownProvince` for anything else.
    """
    value = code_or_name.strip()
    index = _index()
    for key in (value, value.casefold(), _fold(value)):
        if key and key in index:
            return index[key]
    raise UnknownProvince(code_or_name)


_BATCH = re.compile(r"^subcommittee-(?P<meeting>\d+/\d{4})$")


def _meeting_id(batch: str) -> str | None:
    match = _BATCH.match(batch)
    return match.group("meeting") if match else None


def _area_province(province_th: str, province_en: str) -> Province | None:
    if not province_th and not province_en:
        return None
    by_th = province(province_th) if province_th else None
    by_en = province(province_en) if province_en else None
    if by_th is not None and by_en is not None and by_th != by_en:
        raise ValueError(
            f"certified_areas.csv names two provinces in one row: {province_th!r} / {province_en!r}"
        )
    return by_th or by_en


@cache
def certified_areas() -> tuple[CertifiedArea, ...]:
    """The certified smart-city areas, in the order of the source file."""
    return tuple(
        CertifiedArea(
            batch=row["batch"],
            meeting_id=_meeting_id(row["batch"]),
            area_th=row["area_th"],
            area_en=row["area_en"],
            province=_area_province(row["province_th"], row["province_en"]),
            note=row["note"],
        )
        for row in _read_csv("certified_areas.csv")
    )
