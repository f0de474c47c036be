"""The agency directory: who the producers are (id, kind, names, province, email domains).

Core agencies and local governments are listed in `reference/agencies.csv`; every province's
Provincial Administrative Organisation (`pao-<code>`, Bangkok has none) is derived from the
province list, so the directory always covers all of them. The CSV's agencies have the
illustrative email domain `example.go.th` (its `email_domains` column, space-separated); the
derived ones have none until the admin registers theirs (contracts/contacts.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from smartcity_th.contracts.authorisation import Producer, authorise
from smartcity_th.contracts.common import AgencyKind, BilingualText
from smartcity_th.contracts.reference import provinces
from smartcity_th.contracts.refusal import Refusal, RefusalKind, refusal

KIND_LABELS: dict[AgencyKind, str] = {
    AgencyKind.LOCAL_GOVERNMENT: "Local government: municipality or subdistrict (เทศบาล / อบต.), "
    "Bangkok Metropolitan Administration (กรุงเทพมหานคร)",
    AgencyKind.PROVINCIAL_ADMINISTRATIVE_ORGANISATION: "Local government at province level: "
    "Provincial Administrative Organisation (องค์การบริหารส่วนจังหวัด, อบจ.); not the "
    "governor's provincial administration (ราชการส่วนภูมิภาค)",
    AgencyKind.PRIVATE_DEVELOPER: "Private city developer (ภาคเอกชน)",
    AgencyKind.DEPA: "depa Smart City Thailand Office (ดีป้า)",
    AgencyKind.DES_SUBCOMMITTEE: "DES smart-city subcommittee secretariat",
    AgencyKind.STEERING_COMMITTEE: "National smart-city steering committee secretariat",
    AgencyKind.CABINET: "Secretariat of the Cabinet (สลค.)",
    AgencyKind.SYSTEM: "This system's own services",
}
"""Who each agency kind is, in words (English with the Thai names)."""


@dataclass(frozen=True)
class Agency:
    agency_id: str
    kind: AgencyKind
    name_th: str
    name_en: str
    province_code: str | None
    email_domains: tuple[str, ...] = ()
    """Where its contact addresses may be (contracts/contacts.py); empty: nowhere yet."""

    def as_producer(self) -> Producer:
        return Producer(self.agency_id, self.kind, self.province_code)


class UnknownAgency(LookupError):
    def __init__(self, agency_id: str) -> None:
        super().__init__(f"unknown agency {agency_id!r} (ไม่พบหน่วยงาน {agency_id!r})")
        self.agency_id = agency_id


def unknown_producer(producer_id: str) -> Refusal:
    """The refusal of a record whose producer is not in the agency directory."""
    return refusal(
        RefusalKind.UNAUTHORISED,
        f"unknown producer {producer_id!r}: not in the agency directory",
        f"ไม่พบผู้ส่ง {producer_id!r} ในทะเบียนหน่วยงาน",
    )


Directory = Callable[[str], Agency]
"""Who an agency id is (`agency`, or a service's live projection of the registry); raises
`UnknownAgency`."""


def find_producer(directory: Directory, producer_id: str) -> Agency | Refusal:
    """The producer of a claim or fact as the directory knows it, or why it is refused."""
    try:
        return directory(producer_id)
    except UnknownAgency:
        return unknown_producer(producer_id)


def authorise_producer(
    directory: Directory,
    producer_id: str,
    event_type: str,
    *,
    proposal_owner: str | None = None,
    province_code: str | None = None,
) -> Refusal | None:
    """Why the producer named `producer_id` may not emit `event_type` (None: it may): unknown
    to the directory, or refused by the authorisation matrix (`authorise`)."""
    found = find_producer(directory, producer_id)
    if isinstance(found, Refusal):
        return found
    return authorise(
        found.as_producer(), event_type, proposal_owner=proposal_owner, province_code=province_code
    )


@cache
def agencies() -> dict[str, Agency]:
    text = (
        files("smartcity_th.contracts.reference")
        .joinpath("agencies.csv")
        .read_text(encoding="utf-8")
    )
    out: dict[str, Agency] = {}
    for row in csv.DictReader(io.StringIO(text)):
        out[row["id"]] = Agency(
            row["id"],
            AgencyKind(row["kind"]),
            row["name_th"],
            row["name_en"],
            row["province_code"] or None,
            tuple(row["email_domains"].split()),
        )
    for p in provinces():
        if p.code == "10":
            continue
        agency_id = f"pao-{p.code}"
        out.setdefault(
            agency_id,
            Agency(
                agency_id,
                AgencyKind.PROVINCIAL_ADMINISTRATIVE_ORGANISATION,
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


BANGKOK_TH = "กรุงเทพมหานคร"


def province_th(name_th: str) -> str:
    """A province as a Thai sentence names it: จังหวัดภูเก็ต, but กรุงเทพมหานคร (Bangkok is a
    special local government, not a จังหวัด)."""
    return name_th if name_th == BANGKOK_TH else f"จังหวัด{name_th}"


def governor_th(province_name_th: str) -> str:
    """ผู้ว่าราชการจังหวัดภูเก็ต; ผู้ว่าราชการกรุงเทพมหานคร."""
    return f"ผู้ว่าราชการ{province_th(province_name_th)}"


_HOLDER_TH: tuple[tuple[str, str], ...] = (
    ("เทศบาลนคร", "นายกเทศมนตรีนคร"),
    ("เทศบาลเมือง", "นายกเทศมนตรีเมือง"),
    ("เทศบาลตำบล", "นายกเทศมนตรีตำบล"),
    ("องค์การบริหารส่วน", "นายกองค์การบริหารส่วน"),
    ("สำนักงานจังหวัด", "ผู้ว่าราชการจังหวัด"),  # directory entries seeded before the fix
    ("สำนักงานส่งเสริมเศรษฐกิจดิจิทัล", "ผู้อำนวยการใหญ่สำนักงานส่งเสริมเศรษฐกิจดิจิทัล"),
    ("สำนักเลขาธิการคณะรัฐมนตรี", "เลขาธิการคณะรัฐมนตรี"),
    ("ฝ่ายเลขานุการ", "เลขานุการ"),
    ("มหาวิทยาลัย", "อธิการบดีมหาวิทยาลัย"),
    ("บริษัท", "กรรมการผู้จัดการบริษัท"),
)


def office_holder(name_th: str, name_en: str) -> BilingualText:
    """Whom a letter to an organisation is addressed to: the holder of its office
    (เรียน นายกเทศมนตรีนครภูเก็ต, not เรียน เทศบาลนครภูเก็ต). A name no rule knows (an
    individual, an illustrative applicant) is addressed as it is."""
    th = name_th
    if name_th == BANGKOK_TH:
        th = governor_th(BANGKOK_TH)
    elif not name_th.startswith(("ผู้ว่าราชการ", "นายก")):
        for prefix, holder in _HOLDER_TH:
            if name_th.startswith(prefix):
                th = holder + name_th[len(prefix) :]
                if prefix == "สำนักงานส่งเสริมเศรษฐกิจดิจิทัล":
                    th = holder
                elif prefix == "ฝ่ายเลขานุการ":
                    th = th.split(" กระทรวง")[0]
                break
    return BilingualText(th=th, en=_holder_en(name_en))


def _holder_en(name: str) -> str:
    if name.startswith(("Governor", "Mayor", "Chief Executive", "President", "Secretary")):
        return name
    if name == "Bangkok Metropolitan Administration":
        return "Governor of Bangkok"
    if name.endswith("Provincial Governor's Office"):  # seeded before the fix
        return "Governor of " + name.removesuffix(" Provincial Governor's Office") + " Province"
    if name.endswith("Municipality"):
        return f"Mayor of {name}"
    if name.endswith("Provincial Administrative Organisation"):
        return f"Chief Executive of the {name}"
    if name.startswith("Digital Economy Promotion Agency"):
        return "President and CEO, Digital Economy Promotion Agency (depa)"
    if name == "Secretariat of the Cabinet":
        return "Secretary-General of the Cabinet"
    if name.startswith("Secretariat of the "):
        return "Secretary of the " + name.removeprefix("Secretariat of the ").split(" (")[0]
    if "University" in name:
        return f"President of {name}"
    if " Co." in name:
        return f"Managing Director, {name}"
    return name
