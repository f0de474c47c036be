"""Topic names, the partition-key rule and header names."""

from __future__ import annotations

import pytest

from smartcity_th.contracts import topics
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.examples import example_envelope
from smartcity_th.contracts.topics import Topics


def test_the_six_topics_of_the_design() -> None:
    assert topics.ALL_TOPICS == (
        "smartcity.intake",
        "smartcity.proposals",
        "smartcity.decisions",
        "smartcity.notifications",
        "smartcity.contacts",
        "smartcity.deadletter",
    )
    assert topics.DEFAULT_PARTITIONS == 6


def test_every_fact_topic_is_a_known_topic_and_not_intake_or_deadletter() -> None:
    for spec in EVENTS.values():
        assert spec.fact_topic in topics.ALL_TOPICS
        assert spec.fact_topic not in {topics.INTAKE, topics.DEADLETTER}


def test_production_names_are_the_bare_names() -> None:
    names = Topics()
    assert names.all() == topics.ALL_TOPICS
    assert names.intake == topics.INTAKE
    assert names.bare(names.decisions) == topics.DECISIONS


def test_a_namespace_prefixes_every_topic_and_can_be_removed() -> None:
    names = Topics("t1234abcd.")
    assert names.all() == tuple(f"t1234abcd.{t}" for t in topics.ALL_TOPICS)
    assert (names.intake, names.proposals, names.decisions) == (
        "t1234abcd.smartcity.intake",
        "t1234abcd.smartcity.proposals",
        "t1234abcd.smartcity.decisions",
    )
    assert (names.notifications, names.deadletter) == (
        "t1234abcd.smartcity.notifications",
        "t1234abcd.smartcity.deadletter",
    )
    assert [names.bare(n) for n in names.all()] == list(topics.ALL_TOPICS)


@pytest.mark.parametrize("proposal_id", ["PKT-2565-0001", "abc", "ภูเก็ต-1"])
def test_the_partition_key_is_the_utf8_proposal_id(proposal_id: str) -> None:
    assert topics.partition_key(proposal_id) == proposal_id.encode("utf-8")


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_every_envelope_is_keyed_by_its_proposal(event_type: str) -> None:
    envelope = example_envelope(event_type)
    assert envelope.key == topics.partition_key(envelope.proposal_id)


def test_header_names_are_distinct_lower_case_and_all_set_by_the_envelope() -> None:
    names = [
        topics.HEADER_EVENT_TYPE,
        topics.HEADER_EVENT_ID,
        topics.HEADER_SCHEMA_VERSION,
        topics.HEADER_PRODUCER,
        topics.HEADER_CORRELATION_ID,
        topics.HEADER_CONTENT_TYPE,
    ]
    assert len(set(names)) == len(names)
    assert all(name == name.lower() and name.isascii() for name in names)
    envelope = example_envelope("SubcommitteeApproved")
    headers = envelope.headers()
    assert set(headers) == set(names)
    assert headers[topics.HEADER_EVENT_TYPE] == "SubcommitteeApproved"
    assert headers[topics.HEADER_EVENT_ID] == str(envelope.event_id)
    assert headers[topics.HEADER_SCHEMA_VERSION] == str(envelope.schema_version)
    assert headers[topics.HEADER_PRODUCER] == envelope.producer
    assert headers[topics.HEADER_CORRELATION_ID] == str(envelope.correlation_id)
    assert headers[topics.HEADER_CONTENT_TYPE] == topics.CONTENT_TYPE_JSON == "application/json"
