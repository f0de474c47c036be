"""One specification per event (contracts.catalogue): every table keyed by event type is computed
from it. A made-up event, added as one specification before the other modules are imported (in
a fresh interpreter, so nothing here sees it), appears in every derived table with exactly what
its specification says, and its example parses as an event."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from smartcity_th.contracts import authorisation, examples, workflow
from smartcity_th.contracts.catalogue import EVENTS, SPECS
from smartcity_th.contracts.common import Stage
from smartcity_th.services.notifications import letters, rendering, samples

ROOT = Path(__file__).resolve().parents[2]

MADE_UP = '''
import datetime as dt
import json
from typing import Literal

from pydantic import Field

from smartcity_th.contracts import catalogue, topics
from smartcity_th.contracts.common import AgencyKind, AgencyId, BilingualText, Contract, Stage


class AreaInspected(Contract):
    """depa inspected a certified area on site (made up by tests/unit/test_event_specs.py)."""

    event_type: Literal["AreaInspected"] = Field(
        "AreaInspected", description="The event type; always 'AreaInspected'"
    )
    inspected_by: AgencyId = Field(description="The depa office that inspected it")


spec = catalogue.EventSpec(
    AreaInspected,
    "approvals",
    topics.DECISIONS,
    BilingualText(th="การตรวจพื้นที่", en="inspection of the area"),
    frozenset({AgencyKind.DEPA}),
    catalogue.Example(
        AreaInspected(inspected_by="depa"), "depa", dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    ),
    owner_bound=True,
    transition=catalogue.Transition(frozenset({Stage.CERTIFIED}), Stage.CERTIFIED),
    letter=catalogue.LetterRule(catalogue.Party.APPLICANT, (catalogue.Party.GOVERNOR,)),
    decided_by=BilingualText(th="ดีป้า", en="depa"),
)
catalogue.EVENTS[spec.event_type] = spec

from smartcity_th.contracts import authorisation, certificate, examples, workflow  # noqa: E402
from smartcity_th.contracts.agencies import agency  # noqa: E402
from smartcity_th.contracts.envelope import parse_record  # noqa: E402
from smartcity_th.services.notifications import letters, rendering, samples  # noqa: E402
from tools.docgen.events import events_markdown  # noqa: E402
from tools.docgen.schemas import current_schemas  # noqa: E402

name = spec.event_type
envelope = examples.example_envelope(name)
moved = workflow.transition(Stage.CERTIFIED, name, "PKT-2565-0001")
print(json.dumps({
    "catalogue.EVENTS": catalogue.EVENTS[name] is spec,
    "catalogue.owned_by": name in catalogue.owned_by("approvals"),
    "catalogue.claims_for": name in catalogue.claims_for("approvals"),
    "catalogue.carried_on intake": name in catalogue.carried_on(topics.INTAKE),
    "catalogue.carried_on decisions": name in catalogue.carried_on(topics.DECISIONS),
    "authorisation.MATRIX": authorisation.MATRIX[name] == {AgencyKind.DEPA},
    "authorisation.OWNER_BOUND_EVENTS": name in authorisation.OWNER_BOUND_EVENTS,
    "authorisation.authorise": authorisation.authorise(agency("depa").as_producer(), name) is None,
    "workflow.TRANSITIONS": workflow.TRANSITIONS[name] == ({Stage.CERTIFIED}, Stage.CERTIFIED),
    "workflow.CERTIFICATE_EVENTS": name in workflow.CERTIFICATE_EVENTS,
    "certificate.LIFECYCLE_EVENTS": name in certificate.LIFECYCLE_EVENTS,
    "workflow.transition": isinstance(moved, workflow.Moved),
    "workflow.EVENT_NAMES": workflow.EVENT_NAMES[name] == spec.name,
    "examples.PAYLOADS": examples.PAYLOADS[name] == (spec.example.payload, "depa"),
    "envelope.parse_record": parse_record(envelope.to_bytes(), envelope.headers()) == envelope,
    "letters.LETTERS": letters.LETTERS[name] == spec.letter,
    "letters.addressing": letters.addressing(name, {"applicant": "lg-x"}, None) is not None,
    "rendering.TEMPLATES": rendering.TEMPLATES[name] == "AreaInspected.j2",
    "rendering.DECIDED_BY": rendering.DECIDED_BY[name] == spec.decided_by,
    "samples.payloads": samples.payloads()[name] == spec.example.payload,
    "docs/schemas": name in current_schemas(),
    "docs/events.md": f"### {name}" in events_markdown(),
}))
'''


def test_a_made_up_event_specification_reaches_every_derived_table() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", MADE_UP], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout)
    assert [table for table, included in found.items() if not included] == []


def test_every_table_is_the_specifications_own() -> None:
    assert list(EVENTS) == [spec.event_type for spec in SPECS]
    assert {name: spec.producers for name, spec in EVENTS.items()} == authorisation.MATRIX
    assert {name: spec.name for name, spec in EVENTS.items()} == workflow.EVENT_NAMES
    assert {name: spec.example.payload for name, spec in EVENTS.items()} == {
        name: payload for name, (payload, _producer) in examples.PAYLOADS.items()
    }
    assert {**workflow.TRANSITIONS, workflow.OPENING_EVENT: (frozenset(), Stage.SUBMITTED)} == {
        name: (spec.transition.after, spec.transition.to)
        for name, spec in EVENTS.items()
        if spec.transition is not None
    }
    assert {n: s.letter for n, s in EVENTS.items() if s.letter is not None} == letters.LETTERS
    assert set(rendering.TEMPLATES) == set(letters.LETTERS)
    assert all(rendering.has_template(name) for name in rendering.TEMPLATES)


def test_the_letters_samples_tell_the_specifications_example_story() -> None:
    """What the letters show of an event is its example's, but for the text a person wrote
    (the parameters) and the claim's contact addresses, which a fact never carries."""
    told = samples.payloads()
    for name, spec in EVENTS.items():
        example = spec.example.payload.model_dump()
        sample = told[name].model_dump()
        changed = {k for k in example if example[k] != sample[k]}
        assert changed <= {"reason", "reasons", "producer", "contact_emails", "content"}, name
        if "content" in changed:
            assert {**sample["content"], "area_name": None} == {
                **example["content"],
                "area_name": None,
            }
