"""The agency directory: who the producers are (id, kind, names, province).

Core agencies and local governments are listed in `reference/agencies.csv`; every province's
Provincial Administrative Organisation (`pao-<code>`, Bangkok has none) is derived from the
province list, so the directory always covers all of them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from contracts.authorisation import Producer
from contracts.common import AgencyKind
from contracts.reference import provinces


@dataclass(frozen=True)
class Agency:
    agency_id: str
    kind: AgencyKind
    name_th: str
    name_en: str
    province_code: str | None

    def as_producer(self) -> Producer:
        return Producer(self.agency_id, self.kind, self.province_code)


class UnknownAgency(LookupError):
    def __init__(self, agency_id: str) -> None:
        super().__init__(f"unknown agency {agency_id!r} (ไม่พบหน่วยงาน {agency_id!r})")
        self.agency_id = agency_id


@cache
def agencies() -> dict[str, Agency]:
    text = files("contracts.reference").joinpath("agencies.csv").read_text(encoding="utf-8")
    out: dict[str, Agency] = {}
    for row in csv.DictReader(io.StringIO(text)):
        out[row["id"]] = Agency(
            row["id"],
            AgencyKind(row["kind"]),
            row["name_th"],
            row["name_en"],
            row["province_code"] or None,
        )
    for p in provinces():
        if p.code == "10":
            continue
        agency_id = f"pao-{p.code}"
        out.setdefault(
            agency_id,
            Agency(
                agency_id,
                AgencyKind.PROVINCIAL_ADMINISTRATION,
                f"องค์การบริหารส่วนจังหวัด{p.name_th}",
                f"{p.name_en} Provincial Administrative Organisation",
                p.code,
            ),
        )
    return out


def agency(agency_id: str) -> Agency:
    try:
        return agencies()[agency_id]
    except KeyError:
        raise UnknownAgency(agency_id) from None
