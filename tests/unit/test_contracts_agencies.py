"""The agency directory: `contracts/reference/agencies.csv` plus one PAO per province."""

from __future__ import annotations

import csv
import io
import json
import re
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcity_th.contracts import access
from smartcity_th.contracts.agencies import UnknownAgency, agencies, agency
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import (
    AGENCY_ID_PATTERN,
    APPLICANT_KINDS,
    AgencyKind,
    is_agency_id,
)
from smartcity_th.contracts.examples import example_envelope
from smartcity_th.contracts.reference import provinces
from smartcity_th.contracts.registry import AgencyRegistered, Registry, registry_event

K = AgencyKind

COLUMNS = ["id", "kind", "name_th", "name_en", "province_code", "email_domains"]
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


# ---- agency ids have no dots (issue 24): the consumer groups `<agency id>.*` are the agency's


def _scenario_agency_ids() -> set[str]:
    root = Path(__file__).resolve().parents[2]
    with (root / "scenarios" / "data" / "applicants.csv").open(encoding="utf-8") as f:
        return {row["agency_id"] for row in csv.DictReader(f)}


def _vector_agency_ids() -> set[str]:
    text = files("smartcity_th.contracts.reference").joinpath("signing-vectors.json").read_text()
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in {"agency_id", "producer"} and isinstance(v, str):
                    found.add(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(text))
    return found


def test_every_agency_id_in_the_data_is_an_agency_id_without_dots() -> None:
    ids = (
        set(agencies())
        | _scenario_agency_ids()
        | _vector_agency_ids()
        | {example_envelope(name).producer for name in EVENTS}
    )
    assert len(ids) > 90
    assert [i for i in sorted(ids) if not is_agency_id(i) or "." in i] == []


@pytest.mark.parametrize("bad", ["sec-x.y", "lg.phuket", "a.", "depa.orders"])
def test_an_id_with_a_dot_is_refused_where_ids_are_made(bad: str) -> None:
    """The registry's rule (the admin writes nothing it refuses; a projection ignores it) and
    the Kafka ACLs; events' agency fields keep their released, wider pattern, so that events
    written before still parse."""
    assert not is_agency_id(bad)
    event = AgencyRegistered(agency_id=bad, kind=K.LOCAL_GOVERNMENT, name_th="ก", name_en="A")
    state = Registry()
    assert "not an agency id" in str(state.refusal(event))
    assert state.apply(registry_event(event)) is not None
    assert state.agencies == {}
    with pytest.raises(ValueError, match="not an agency id"):
        access.agency_rules(bad)


agency_ids = st.from_regex(AGENCY_ID_PATTERN.removesuffix("$") + r"\Z", fullmatch=True)


@given(agency_ids, agency_ids, st.text(max_size=20))
def test_no_agency_can_use_another_agencys_consumer_groups(a: str, b: str, suffix: str) -> None:
    """An agency may read the groups its prefix ACL covers (`<id>.`); another agency's group
    `<other id>.<anything>` is never among them."""
    [prefix] = [r.name for r in access.agency_rules(a) if r.resource == access.Resource.GROUP]
    group = f"{b}{access.AGENCY_GROUP_SEPARATOR}{suffix}"
    assert group.startswith(prefix) == (a == b)
