"""The Kafka bootstrap list: one rule for the local stack's nodes (the same list as
`infra/stack.sh bootstrap`), and a comma-separated list handed to FastStream as a list (given
the string, it asked aiokafka to resolve "a:9092,b:9092" as one host name)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from smartcity_th.services.common.kafka import make_broker
from smartcity_th.services.common.kafka_auth import bootstrap_servers, default_bootstrap
from smartcity_th.services.proposals.config import ProposalsSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("nodes", ["1", "3"])
def test_the_local_bootstrap_is_the_one_infra_stack_lists(
    nodes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"SMARTCITY_KAFKA_PORT": "19092", "SMARTCITY_KAFKA_NODES": nodes}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SMARTCITY_KAFKA_BOOTSTRAP", raising=False)
    listed = subprocess.run(
        ["bash", str(ROOT / "infra" / "stack.sh"), "bootstrap"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert default_bootstrap() == listed
    assert len(bootstrap_servers(listed)) == int(nodes)


def test_a_service_broker_gets_every_bootstrap_server() -> None:
    settings = ProposalsSettings(kafka_bootstrap="127.0.0.1:9492, 127.0.0.1:9502,127.0.0.1:9512")
    config: Any = make_broker(settings, "unit").config.broker_config  # what aiokafka is given
    servers = config.builder.keywords["bootstrap_servers"]
    assert servers == ["127.0.0.1:9492", "127.0.0.1:9502", "127.0.0.1:9512"]
