"""Schema version 2 reads version 1 (contracts/upgrade.py): every record a version 1 producer
wrote still parses, into the version 2 shape, and nothing else changed between the versions."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.envelope import SCHEMA_VERSION, EnvelopeError, parse_record
from smartcity_th.contracts.evolution import compare_all
from smartcity_th.contracts.examples import example_envelope
from smartcity_th.contracts.upgrade import V1_TO_V2, upgrade
from tools.docgen.artefacts import DOCS
from tools.docgen.schemas import RELEASED_ROOT, current_schemas, load_schemas

WORDS = ("resolution", "notes", "reason", "changes")


def _as_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """A version 2 record as a version 1 producer wrote it: each free text one string
    "ไทย / English", the contact addresses inside the content."""
    old = copy.deepcopy(doc)
    old["schema_version"] = 1
    payload = old["payload"]
    if old["event_type"] not in V1_TO_V2:
        return old  # unchanged since version 1 (or new in version 2)

    def joined(node: dict[str, Any]) -> None:
        for name in WORDS:
            value = node.get(name)
            if isinstance(value, dict) and set(value) == {"th", "en"}:
                node[name] = " / ".join(v for v in (value["th"], value["en"]) if v)

    joined(payload)
    for decision in payload.get("decisions", []):
        joined(decision)
    if "contact_emails" in payload:
        payload["content"]["contact_emails"] = payload.pop("contact_emails")
    return old


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_every_version_1_record_reads_as_the_version_2_one(event_type: str) -> None:
    current = example_envelope(event_type)
    doc = json.loads(current.to_bytes())
    old = _as_v1(doc)
    read = parse_record(json.dumps(old, ensure_ascii=False).encode(), {})
    assert read.schema_version == 1  # the record still says what it was
    assert read.payload == current.payload


def test_a_version_1_resolution_in_one_language_fills_that_language_only() -> None:
    doc = json.loads(example_envelope("SubcommitteeApproved").to_bytes())
    for text, th, en in (
        ("ที่ประชุมมีมติเห็นชอบ", "ที่ประชุมมีมติเห็นชอบ", None),
        ("Approved", None, "Approved"),
        ("Approved / อนุมัติ", "อนุมัติ", "Approved"),
        (
            "มติ (ตัวอย่าง / illustrative) / Resolution (ตัวอย่าง / illustrative)",
            "มติ (ตัวอย่าง)",
            "Resolution (illustrative)",
        ),
    ):
        old = {**doc, "schema_version": 1, "payload": {**doc["payload"], "resolution": text}}
        payload = parse_record(json.dumps(old).encode(), {}).payload
        assert (payload.resolution.th, payload.resolution.en) == (th, en), text


def test_the_upgrade_is_idempotent_and_leaves_other_versions_alone() -> None:
    doc = _as_v1(json.loads(example_envelope("ProposalSubmitted").to_bytes()))
    once = upgrade(doc)
    assert upgrade(once) == once
    assert "contact_emails" not in once["payload"]["content"]
    assert doc["payload"]["content"]["contact_emails"]  # the input is not changed
    v2 = json.loads(example_envelope("ProposalSubmitted").to_bytes())
    assert upgrade(v2) is v2


def test_version_2_refuses_english_in_the_thai_field_and_thai_in_the_english_one() -> None:
    doc = json.loads(example_envelope("SubcommitteeApproved").to_bytes())
    for words, field in (
        ({"th": "Approved"}, "payload.resolution"),
        ({"en": "อนุมัติ"}, "payload.resolution"),
        ({}, "payload.resolution"),
    ):
        bad = {**doc, "payload": {**doc["payload"], "resolution": words}}
        with pytest.raises(EnvelopeError) as caught:
            parse_record(json.dumps(bad).encode(), {})
        assert str(caught.value).startswith(field)


def test_what_changed_from_version_1_is_exactly_what_the_upgrade_reads() -> None:
    """The breaking changes from the released version 1 schemas to the current ones are in the
    events the upgrade handles, and in the fields it rewrites; every other event is unchanged
    or changed additively."""
    assert SCHEMA_VERSION == 2
    released = load_schemas(DOCS / RELEASED_ROOT / "v1")
    assert released
    changes = compare_all(released, current_schemas())
    assert changes
    for change in changes:
        assert change.event in V1_TO_V2, str(change)
        top = change.field.split(".")[1] if change.field.startswith("payload.") else change.field
        assert top in {*WORDS, "content", "decisions"}, str(change)
