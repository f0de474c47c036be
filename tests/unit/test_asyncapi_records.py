"""The AsyncAPI documents tell a producer what to send beside the value (issue 25): every message
declares its headers (which are required), its key, and our correlation-id header; the official
AsyncAPI parser accepts every document; and what the kit and the services really send is what
is documented (tests/e2e/test_record_headers.py reads real records from the broker)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from smartcity_th.contracts import topics
from smartcity_th.contracts.envelope import new_envelope
from smartcity_th.contracts.proposals import ProposalWithdrawn
from smartcity_th.contracts.records import HEADER_DESCRIPTIONS, record_shape
from smartcity_th.contracts.signing import HEADER_SIGNATURE, HEADER_SIGNED_AT
from tests.support import signer_for

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted((ROOT / "docs" / "asyncapi").glob("*.json"))
LOCAL = Path(os.environ.get("SMARTCITY_LOCAL_DIR", ROOT / ".local"))


def messages_by_topic(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    messages = document["components"]["messages"]
    return [
        (channel["address"], messages[ref["$ref"].rsplit("/", 1)[-1]])
        for channel in document["channels"].values()
        for ref in channel["messages"].values()
    ]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.stem)
def test_every_message_declares_its_headers_key_and_correlation_id(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    found = messages_by_topic(document)
    assert found
    for topic, message in found:
        shape = record_shape(topic)
        headers = message["headers"]
        assert headers["required"] == list(shape.required), (topic, message["title"])
        assert set(headers["properties"]) == {*shape.required, *shape.optional}
        assert message["bindings"]["kafka"]["key"]["description"] == shape.key
        if topic == topics.DEADLETTER:
            assert "correlationId" not in message
        else:
            assert message["correlationId"]["location"] == (
                f"$message.header#/{topics.HEADER_CORRELATION_ID}"
            )


def test_a_claim_needs_its_signature_and_event_type_and_a_fact_its_publisher() -> None:
    assert set(record_shape(topics.INTAKE).required) == {
        HEADER_SIGNATURE,
        HEADER_SIGNED_AT,
        topics.HEADER_EVENT_TYPE,
    }
    assert topics.HEADER_EMITTED_BY in record_shape(topics.PROPOSALS).required
    # A fact carries its owner's signature once the owner has a key (unsigned ones only from
    # before it: docs/security.md, "Signed facts").
    assert {HEADER_SIGNATURE, HEADER_SIGNED_AT} <= set(record_shape(topics.DECISIONS).optional)
    every = {
        h for t in topics.ALL_TOPICS for h in (*record_shape(t).required, *record_shape(t).optional)
    }
    assert every <= set(HEADER_DESCRIPTIONS)


def test_the_kit_sends_what_the_intake_documents() -> None:
    claim = new_envelope(
        ProposalWithdrawn(applicant="lg-phuket-city", reason="a test"),
        producer="lg-phuket-city",
        proposal_id="HKT-2569-01",
    )
    sent = {name for name, _ in signer_for("lg-phuket-city").sign(claim).kafka_headers()}
    shape = record_shape(topics.INTAKE)
    assert set(shape.required) <= sent <= {*shape.required, *shape.optional}


def test_the_official_asyncapi_parser_accepts_every_document() -> None:
    """Fails (never skips) without Node: `make test` installs the parser
    (infra/install-asyncapi-parser.sh)."""
    node = shutil.which("node")
    assert node, "Node.js is required: apt-get install nodejs npm"
    validate = LOCAL / "asyncapi" / "validate.mjs"
    assert validate.exists(), "run infra/install-asyncapi-parser.sh (make test does)"
    done = subprocess.run(
        [node, str(validate), *map(str, DOCUMENTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(DOCUMENTS), done.stderr[-2000:]
    assert [r for r in results if r["errors"]] == []
    assert done.returncode == 0
