"""Reference data: provinces, regions, smart-city dimensions and certified areas."""

from __future__ import annotations

import csv
import io
from collections import Counter
from importlib.resources import files

import pytest

from smartcity_th.contracts.reference import (
    Province,
    Region,
    SmartDimension,
    UnknownProvince,
    certified_areas,
    province,
    provinces,
)


def test_there_are_77_provinces_sorted_by_code() -> None:
    all_provinces = provinces()
    assert len(all_provinces) == 77
    codes = [p.code for p in all_provinces]
    assert codes == sorted(codes)
    assert all(len(code) == 2 and code.isdigit() for code in codes)


def test_codes_iso_codes_and_names_are_unique() -> None:
    all_provinces = provinces()
    for field in ("code", "iso_code", "name_th", "name_en"):
        values = [getattr(p, field) for p in all_provinces]
        assert len(set(values)) == 77, field


def test_iso_code_matches_code_and_pattaya_is_not_a_province() -> None:
    for p in provinces():
        assert p.iso_code == f"TH-{p.code}"
    assert "TH-S" not in {p.iso_code for p in provinces()}


def test_region_counts_follow_the_six_region_system() -> None:
    counts = Counter(p.region for p in provinces())
    assert counts == {
        Region.NORTH: 9,
        Region.NORTHEAST: 20,
        Region.EAST: 7,
        Region.WEST: 5,
        Region.CENTRAL: 22,
        Region.SOUTH: 14,
    }


def test_region_thai_labels() -> None:
    assert Region.CENTRAL.label_th == "ภาคกลาง"
    assert Region.NORTH.label_th == "ภาคเหนือ"
    assert Region.NORTHEAST.label_th == "ภาคตะวันออกเฉียงเหนือ"
    assert Region.EAST.label_th == "ภาคตะวันออก"
    assert Region.WEST.label_th == "ภาคตะวันตก"
    assert Region.SOUTH.label_th == "ภาคใต้"


@pytest.mark.parametrize(
    ("code", "iso_code", "name_th", "name_en", "region"),
    [
        ("10", "TH-10", "กรุงเทพมหานคร", "Bangkok", Region.CENTRAL),
        ("11", "TH-11", "สมุทรปราการ", "Samut Prakan", Region.CENTRAL),
        ("14", "TH-14", "พระนครศรีอยุธยา", "Phra Nakhon Si Ayutthaya", Region.CENTRAL),
        ("20", "TH-20", "ชลบุรี", "Chon Buri", Region.EAST),
        ("24", "TH-24", "ฉะเชิงเทรา", "Chachoengsao", Region.EAST),
        ("30", "TH-30", "นครราชสีมา", "Nakhon Ratchasima", Region.NORTHEAST),
        ("34", "TH-34", "อุบลราชธานี", "Ubon Ratchathani", Region.NORTHEAST),
        ("38", "TH-38", "บึงกาฬ", "Bueng Kan", Region.NORTHEAST),
        ("39", "TH-39", "หนองบัวลำภู", "Nong Bua Lam Phu", Region.NORTHEAST),
        ("50", "TH-50", "เชียงใหม่", "Chiang Mai", Region.NORTH),
        ("52", "TH-52", "ลำปาง", "Lampang", Region.NORTH),
        ("60", "TH-60", "นครสวรรค์", "Nakhon Sawan", Region.CENTRAL),
        ("63", "TH-63", "ตาก", "Tak", Region.WEST),
        ("71", "TH-71", "กาญจนบุรี", "Kanchanaburi", Region.WEST),
        ("77", "TH-77", "ประจวบคีรีขันธ์", "Prachuap Khiri Khan", Region.WEST),
        ("82", "TH-82", "พังงา", "Phang Nga", Region.SOUTH),
        ("83", "TH-83", "ภูเก็ต", "Phuket", Region.SOUTH),
        ("84", "TH-84", "สุราษฎร์ธานี", "Surat Thani", Region.SOUTH),
        ("90", "TH-90", "สงขลา", "Songkhla", Region.SOUTH),
        ("96", "TH-96", "นราธิวาส", "Narathiwat", Region.SOUTH),
    ],
)
def test_known_provinces(
    code: str, iso_code: str, name_th: str, name_en: str, region: Region
) -> None:
    expected = Province(code, iso_code, name_th, name_en, region)
    assert province(code) == expected
    assert province(iso_code) == expected
    assert province(name_th) == expected
    assert province(name_en) == expected


def test_every_province_is_found_by_every_form() -> None:
    for p in provinces():
        assert province(p.code) is p
        assert province(p.iso_code) is p
        assert province(p.iso_code.lower()) is p
        assert province(p.name_th) is p
        assert province(p.name_en) is p
        assert province(p.name_en.upper()) is p
        assert province(p.name_en.replace(" ", "")) is p
        assert province(p.name_en.replace(" ", "-").lower()) is p
        assert province(f"  {p.name_th}  ") is p


def test_english_lookup_ignores_case_spaces_and_hyphens() -> None:
    chon_buri = province("20")
    for spelling in ("Chon Buri", "Chonburi", "chonburi", "CHON-BURI", " chon  buri "):
        assert province(spelling) is chon_buri
    assert province("Buriram") is province("Buri Ram")
    assert province("Sisaket") is province("Si Sa Ket")
    assert province("Lopburi") is province("Lop Buri")


@pytest.mark.parametrize(
    "value", ["Pattaya", "TH-S", "28", "99", "TH-99", "Atlantis", "", "เมืองพัทยา"]
)
def test_unknown_province(value: str) -> None:
    with pytest.raises(UnknownProvince) as excinfo:
        province(value)
    message = str(excinfo.value)
    assert repr(value) in message
    assert "is not one of" in message
    assert "77 provinces" in message
    assert "ไม่พบจังหวัด" in message
    assert isinstance(excinfo.value, ValueError)
    assert excinfo.value.value == value


def test_seven_smart_dimensions() -> None:
    assert [d.value for d in SmartDimension] == [
        "environment",
        "economy",
        "mobility",
        "energy",
        "people",
        "living",
        "governance",
    ]
    assert {d: d.label_th for d in SmartDimension} == {
        SmartDimension.ENVIRONMENT: "สิ่งแวดล้อมอัจฉริยะ",
        SmartDimension.ECONOMY: "เศรษฐกิจอัจฉริยะ",
        SmartDimension.MOBILITY: "การเดินทางและขนส่งอัจฉริยะ",
        SmartDimension.ENERGY: "พลังงานอัจฉริยะ",
        SmartDimension.PEOPLE: "พลเมืองอัจฉริยะ",
        SmartDimension.LIVING: "การดำรงชีวิตอัจฉริยะ",
        SmartDimension.GOVERNANCE: "การบริหารภาครัฐอัจฉริยะ",
    }
    assert [d.label_en for d in SmartDimension] == [
        "Smart Environment",
        "Smart Economy",
        "Smart Mobility",
        "Smart Energy",
        "Smart People",
        "Smart Living",
        "Smart Governance",
    ]


def test_certified_areas_totals() -> None:
    areas = certified_areas()
    distinct_areas = {(a.batch, a.area_th, a.area_en, a.province) for a in areas}
    assert len(distinct_areas) == len(areas) == 30

    assert all(a.province is not None for a in areas)
    assert len({a.province for a in areas}) == 23

    # The 15th area of the 2021 group is not named in the sources, but it is in Chon Buri
    # (Bangkok Post 2021, thailand/general/2188615): so Bangkok has 4 areas and Chon Buri 2.
    unnamed = [a for a in areas if not a.area_th and not a.area_en]
    assert len(unnamed) == 1
    assert unnamed[0].province is not None
    assert unnamed[0].province.name_en == "Chon Buri"
    assert unnamed[0].meeting_id == "2/2564"
    by_province = Counter(a.province.name_en for a in areas if a.province is not None)
    assert by_province["Bangkok"] == 4
    assert by_province["Chon Buri"] == 2


def test_batch_1_2565() -> None:
    batch = [a for a in certified_areas() if a.meeting_id == "1/2565"]
    assert len(batch) == 15
    assert len({a.province for a in batch}) == 14
    assert all(a.batch == "subcommittee-1/2565" for a in batch)


def test_meeting_ids_are_parsed_from_batch() -> None:
    meetings = Counter(a.meeting_id for a in certified_areas())
    assert meetings == {"1/2564": 5, "2/2564": 10, "1/2565": 15}
    for a in certified_areas():
        assert a.batch == f"subcommittee-{a.meeting_id}"


def test_every_province_pair_in_certified_areas_resolves_to_one_province() -> None:
    text = (
        files("smartcity_th.contracts.reference").joinpath("certified_areas.csv").read_text("utf-8")
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 30
    pairs = {(r["province_th"], r["province_en"]) for r in rows if r["province_th"]}
    assert pairs
    for name_th, name_en in pairs:
        assert province(name_th) is province(name_en)
        assert province(name_th).name_th == name_th
        assert province(name_th).name_en == name_en


def test_invented_applicant_names_are_marked_illustrative_in_both_languages() -> None:
    """An applicant name made up for the demo (docs/process.md, "Illustrative") carries its
    mark in the data, so every letter, copy line and page that names it marks it in Thai and
    in English."""
    from smartcity_th.contracts.agencies import agencies, office_holder

    invented = [
        a
        for a in agencies().values()
        if a.name_th.startswith(("ผู้ยื่นข้อเสนอ", "ผู้พัฒนา")) or a.agency_id == "pd-samyan"
    ]
    assert len(invented) == 8
    for a in invented:
        assert a.name_th.endswith("(ตัวอย่าง)"), a
        assert a.name_en.endswith("(illustrative)"), a
        holder = office_holder(a.name_th, a.name_en)
        assert "(ตัวอย่าง)" in holder.th
        assert "(illustrative)" in holder.en
