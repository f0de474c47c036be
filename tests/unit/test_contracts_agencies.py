"""The agency directory: `contracts/reference/agencies.csv` plus one PAO per province."""

from __future__ import annotations

import csv
import io
import re
from importlib.resources import files

import pytest

from smartcity_th.contracts.agencies import UnknownAgency, agencies, agency
from smartcity_th.contracts.common import AGENCY_ID_PATTERN, APPLICANT_KINDS, AgencyKind
from smartcity_th.contracts.reference import provinces

K = AgencyKind

COLUMNS = ["id", "kind", "name_th", "name_en", "province_code"]
BANGKOK = "10"


def _rows() -> list[dict[str, str]]:
    text = (
        files("smartcity_th.contracts.reference")
        .joinpath("agencies.csv")
        .read_text(encoding="utf-8")
    )
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == COLUMNS
    return list(reader)


def test_the_csv_has_the_documented_columns_and_unique_ids() -> None:
    ids = [row["id"] for row in _rows()]
    assert len(ids) == len(set(ids))


def test_every_agency_id_is_unique_and_well_formed() -> None:
    directory = agencies()
    assert all(key == a.agency_id for key, a in directory.items())
    assert all(re.fullmatch(AGENCY_ID_PATTERN, key) for key in directory)
    csv_ids = [row["id"] for row in _rows()]
    pao_ids = [key for key in directory if key.startswith("pao-")]
    assert len(directory) == len(set(csv_ids) | set(pao_ids))


def test_every_kind_is_a_known_agency_kind_and_every_kind_is_present() -> None:
    for row in _rows():
        AgencyKind(row["kind"])
    assert {a.kind for a in agencies().values()} == set(AgencyKind)


def test_province_codes_are_valid_and_only_local_bodies_have_one() -> None:
    codes = {p.code for p in provinces()}
    for a in agencies().values():
        if a.kind in {K.LOCAL_GOVERNMENT, K.PROVINCIAL_ADMINISTRATIVE_ORGANISATION}:
            assert a.province_code in codes, a
        elif a.kind is AgencyKind.PRIVATE_DEVELOPER:
            assert a.province_code is None or a.province_code in codes, a
        else:
            assert a.province_code is None, a


def test_every_province_except_bangkok_has_its_pao() -> None:
    directory = agencies()
    for p in provinces():
        pao = directory.get(f"pao-{p.code}")
        if p.code == BANGKOK:
            assert pao is None
            continue
        assert pao is not None, p.name_en
        assert pao.kind is AgencyKind.PROVINCIAL_ADMINISTRATIVE_ORGANISATION
        assert pao.province_code == p.code
        assert p.name_th in pao.name_th
        assert p.name_en in pao.name_en
    assert sum(1 for key in directory if key.startswith("pao-")) == 76


def test_names_are_given_in_thai_and_english() -> None:
    thai = re.compile(r"[\u0E00-\u0E7F]")
    for a in agencies().values():
        assert thai.search(a.name_th), a
        assert a.name_en.strip(), a
        assert a.name_en.isascii(), a


@pytest.mark.parametrize(
    ("agency_id", "kind", "province_code"),
    [
        ("depa", AgencyKind.DEPA, None),
        ("des-subcommittee", AgencyKind.DES_SUBCOMMITTEE, None),
        ("steering-committee", AgencyKind.STEERING_COMMITTEE, None),
        ("cabinet-secretariat", AgencyKind.CABINET, None),
        ("svc-approvals", AgencyKind.SYSTEM, None),
        ("lg-phuket-city", AgencyKind.LOCAL_GOVERNMENT, "83"),
        ("pao-83", AgencyKind.PROVINCIAL_ADMINISTRATIVE_ORGANISATION, "83"),
    ],
)
def test_known_agencies_and_their_producers(
    agency_id: str, kind: AgencyKind, province_code: str | None
) -> None:
    found = agency(agency_id)
    assert (found.kind, found.province_code) == (kind, province_code)
    producer = found.as_producer()
    assert (producer.agency_id, producer.kind, producer.province_code) == (
        agency_id,
        kind,
        province_code,
    )


def test_an_unknown_agency_is_a_clear_bilingual_error() -> None:
    with pytest.raises(UnknownAgency, match="unknown agency 'lg-atlantis'") as info:
        agency("lg-atlantis")
    assert "ไม่พบหน่วยงาน" in str(info.value)
    assert info.value.agency_id == "lg-atlantis"


def test_there_is_at_least_one_applicant_of_each_kind() -> None:
    kinds = {a.kind for a in agencies().values()}
    assert kinds >= APPLICANT_KINDS
