"""The event catalogue: every event is a strict, fully described pydantic model."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from smartcity_th.contracts import authorisation, workflow
from smartcity_th.contracts.approvals import (
    CabinetEndorsed,
    CabinetReturned,
    CertificationAwarded,
    SteeringCommitteeAcknowledged,
    SubcommitteeApproved,
    SubcommitteeRejected,
    ValidityPeriod,
)
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import BilingualText, Meeting
from smartcity_th.contracts.deadletter import DeadLetter
from smartcity_th.contracts.envelope import Envelope, new_envelope, parse_record
from smartcity_th.contracts.examples import PAYLOADS, example_dead_letter, example_envelope
from smartcity_th.contracts.proposals import ProposalWithdrawn

WORKFLOW_EVENTS = {
    "ProposalSubmitted",
    "ProposalResubmitted",
    "ProposalWithdrawn",
    "IntakeRejected",
    "ProposalScreened",
    "RevisionRequested",
    "SubcommitteeApproved",
    "SubcommitteeRejected",
    "SteeringCommitteeAcknowledged",
    "CabinetEndorsed",
    "CabinetReturned",
    "CertificationAwarded",
    "TransitionRefused",
    "NotificationSent",
    "NotificationFailed",
    "NotificationHeld",
}


def _undescribed(schema: Mapping[str, Any]) -> Iterator[str]:
    models = {"(envelope)": schema, **schema.get("$defs", {})}
    for model_name, model in models.items():
        for field_name, prop in model.get("properties", {}).items():
            if not str(prop.get("description", "")).strip():
                yield f"{model_name}.{field_name}"


def test_the_catalogue_has_every_workflow_event() -> None:
    assert set(EVENTS) >= WORKFLOW_EVENTS


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_every_event_is_named_after_its_model_and_described(event_type: str) -> None:
    spec = EVENTS[event_type]
    assert spec.payload.__name__ == event_type
    assert (spec.payload.__doc__ or "").strip()
    schema = Envelope[spec.payload].model_json_schema()  # type: ignore[name-defined]
    assert list(_undescribed(schema)) == []


def test_the_dead_letter_record_is_fully_described() -> None:
    assert list(_undescribed(DeadLetter.model_json_schema())) == []


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_every_event_refuses_unknown_fields(event_type: str) -> None:
    payload, _ = PAYLOADS[event_type]
    data = payload.model_dump(mode="json") | {"unexpected": 1}
    with pytest.raises(ValidationError) as info:
        type(payload).model_validate(data)
    assert info.value.errors()[0]["loc"] == ("unexpected",)


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_every_event_round_trips_through_json(event_type: str) -> None:
    envelope = example_envelope(event_type)
    again = parse_record(envelope.to_bytes(), envelope.headers())
    assert again == envelope
    assert again.payload.event_type == event_type


def test_every_event_has_an_example_producer_the_matrix_allows() -> None:
    from smartcity_th.contracts.agencies import agency

    for event_type, (_, producer) in PAYLOADS.items():
        assert authorisation.authorise(agency(producer).as_producer(), event_type) is None, (
            event_type
        )


def test_catalogue_matrix_and_workflow_agree() -> None:
    assert set(authorisation.MATRIX) == set(EVENTS)
    assert set(workflow.TRANSITIONS) | {workflow.OPENING_EVENT} <= set(EVENTS)
    assert {spec.owner for spec in EVENTS.values()} == {"proposals", "approvals", "notifications"}


def test_times_must_be_timezone_aware_and_are_normalised_to_utc() -> None:
    payload = ProposalWithdrawn(applicant="lg-phuket-city")
    bangkok = dt.timezone(dt.timedelta(hours=7))
    envelope = new_envelope(
        payload,
        producer="lg-phuket-city",
        proposal_id="PKT-2565-0001",
        occurred_at=dt.datetime(2022, 8, 6, 16, 0, tzinfo=bangkok),
    )
    assert envelope.occurred_at == dt.datetime(2022, 8, 6, 9, 0, tzinfo=dt.UTC)
    assert envelope.occurred_at.utcoffset() == dt.timedelta(0)
    with pytest.raises(ValidationError, match="timezone-aware"):
        new_envelope(
            payload,
            producer="lg-phuket-city",
            proposal_id="PKT-2565-0001",
            occurred_at=dt.datetime(2022, 8, 6, 16, 0),
        )


@pytest.mark.parametrize(
    "model", [SubcommitteeApproved, SubcommitteeRejected, SteeringCommitteeAcknowledged]
)
def test_committee_decisions_carry_the_meeting_and_resolution(model: type[Any]) -> None:
    fields = model.model_fields
    assert fields["meeting"].annotation is Meeting
    assert fields["resolution"].is_required()
    meeting = Meeting(
        meeting_id="1/2565",
        held_on=dt.date(2022, 8, 6),
        chair=BilingualText(th="ประธาน", en="Chair"),
    )
    assert meeting.meeting_id == "1/2565"


@pytest.mark.parametrize("meeting_id", ["1/2022", "2565", "1-2565", "", "1/25650"])
def test_meeting_ids_use_the_buddhist_era_year(meeting_id: str) -> None:
    with pytest.raises(ValidationError):
        Meeting(meeting_id=meeting_id, held_on=dt.date(2022, 8, 6), chair={"th": "ก", "en": "A"})


@pytest.mark.parametrize("model", [CabinetEndorsed, CabinetReturned])
def test_cabinet_events_carry_resolution_number_and_date(model: type[Any]) -> None:
    fields = model.model_fields
    assert fields["resolution_number"].is_required()
    assert fields["resolution_date"].annotation is dt.date


def test_certification_carries_number_and_two_year_validity_with_50_percent_renewal() -> None:
    payload, _ = PAYLOADS["CertificationAwarded"]
    assert isinstance(payload, CertificationAwarded)
    assert payload.certificate_number == "SCT-2565-0016"
    validity = payload.validity
    assert validity.deliver_by == validity.valid_from.replace(year=validity.valid_from.year + 2)
    assert validity.renewal_min_progress_percent == 50
    assert ValidityPeriod(valid_from=dt.date(2023, 1, 9), deliver_by=dt.date(2025, 1, 9)) == (
        validity
    )
    with pytest.raises(ValidationError):
        CertificationAwarded.model_validate(
            payload.model_dump(mode="json") | {"certificate_number": "2565-16"}
        )


def test_people_read_thai_and_english() -> None:
    for model in (SubcommitteeRejected, CabinetReturned):
        assert model.model_fields["reasons"].annotation is BilingualText
    with pytest.raises(ValidationError):
        BilingualText.model_validate({"th": "ข้อความ"})
    with pytest.raises(ValidationError):
        BilingualText(th="   ", en="blank Thai is no text")


def test_the_example_dead_letter_keeps_the_original_bytes() -> None:
    record = example_dead_letter()
    assert record.key == b"PKT-2565-0001"
    assert b'"6 Aug 2022"' in record.value
    again = DeadLetter.model_validate_json(record.model_dump_json())
    assert again == record


@pytest.mark.parametrize(
    ("start", "due"),
    [
        (dt.date(2022, 9, 30), dt.date(2024, 9, 30)),
        (dt.date(2024, 2, 29), dt.date(2026, 2, 28)),
    ],
)
def test_the_standard_validity_period_is_two_years(start: dt.date, due: dt.date) -> None:
    period = ValidityPeriod.starting(start)
    assert (period.valid_from, period.deliver_by) == (start, due)
    assert period.renewal_min_progress_percent == 50


def test_delivery_cannot_be_due_before_the_award() -> None:
    with pytest.raises(ValidationError, match="deliver_by must be after valid_from"):
        ValidityPeriod(valid_from=dt.date(2024, 9, 30), deliver_by=dt.date(2022, 9, 30))


@pytest.mark.parametrize("text", ["bad\x00text", "lone \ud800 surrogate"])
def test_text_no_store_accepts_is_refused_with_the_fields_path(text: str) -> None:
    # FerretDB on PostgreSQL cannot hold NUL in a JSON string: stored, it fails as a server
    # error (SQLSTATE 22P05) on every later read of the collection. Refused at the contract.
    with pytest.raises(ValidationError) as caught:
        BilingualText(th="ไทย", en=text)
    assert "en contains" in str(caught.value)


def test_an_envelope_with_nul_in_a_nested_payload_string_is_a_named_parse_error() -> None:
    from smartcity_th.contracts.envelope import EnvelopeError

    env = example_envelope("ProposalWithdrawn")
    value = env.to_bytes().replace(b'"en":"', b'"en":"\\u0000', 1)
    assert b"\\u0000" in value
    with pytest.raises(EnvelopeError) as caught:
        parse_record(value, env.headers())
    assert "NUL" in caught.value.reason
