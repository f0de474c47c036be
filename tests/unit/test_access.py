"""The ACL design (contracts/access.py): derived from the catalogue, least privilege, printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smartcity_th.contracts import access, topics
from smartcity_th.contracts.access import Operation, Pattern, Resource, Rule
from tools.docgen.artefacts import with_acl_table

ROOT = Path(__file__).resolve().parents[2]


def writers(rules: list[Rule], topic: str) -> set[str]:
    return {
        r.principal
        for r in rules
        if r.resource is Resource.TOPIC and r.name == topic and r.operation is Operation.WRITE
    }


def test_each_fact_topic_is_written_by_its_catalogue_owner_and_the_console_replay_only() -> None:
    rules = access.all_service_rules()
    assert access.fact_topic_owners() == {
        topics.PROPOSALS: "proposals",
        topics.DECISIONS: "approvals",
        topics.NOTIFICATIONS: "notifications",
        topics.CONTACTS: "proposals",
    }
    for topic, owner in access.fact_topic_owners().items():
        assert writers(rules, topic) == {f"svc-{owner}", "svc-console"}
    assert writers(rules, topics.INTAKE) == {"svc-console"}
    assert writers(rules, access.REGISTRY) == set()  # the admin only (super user)
    assert writers(rules, topics.DEADLETTER) == {f"svc-{s}" for s in access.SERVICES}


def test_nobody_but_the_admin_may_create_alter_or_delete() -> None:
    rules = [*access.all_service_rules("test-x."), *access.agency_rules("lg-phuket-city")]
    assert {r.operation for r in rules} == {Operation.READ, Operation.WRITE, Operation.DESCRIBE}
    groups = [r for r in rules if r.resource is Resource.GROUP]
    assert all(r.pattern is Pattern.PREFIXED for r in groups)
    # Only the console describes groups (for the lag view), and only the namespace's.
    describes = [r for r in rules if r.operation is Operation.DESCRIBE]
    assert [(r.principal, r.resource, r.name) for r in describes] == [
        ("svc-console", Resource.GROUP, "test-x.")
    ]
    assert all(r.operation is Operation.READ for r in groups if r not in describes)


def test_an_agency_writes_only_intake_and_reads_the_answers() -> None:
    rules = access.agency_rules("lg-phuket-city", "ns.")
    assert {(r.resource, r.name, r.operation) for r in rules} == {
        (Resource.TOPIC, "ns.smartcity.intake", Operation.WRITE),
        (Resource.TOPIC, "ns.smartcity.proposals", Operation.READ),
        (Resource.TOPIC, "ns.smartcity.decisions", Operation.READ),
        (Resource.GROUP, "ns.lg-phuket-city.", Operation.READ),
    }


@pytest.mark.parametrize("name", ["admin", "broker", "svc-approvals"])
def test_reserved_principals_cannot_be_agencies(name: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        access.agency_rules(name)


def test_a_namespace_prefixes_every_name() -> None:
    for rule in access.all_service_rules("test-abc."):
        assert rule.name.startswith("test-abc.")


def test_fact_refusal() -> None:
    assert access.fact_refusal(topics.DECISIONS, "ProposalScreened", "depa") is None
    assert access.fact_refusal(topics.INTAKE, "ProposalSubmitted", "lg-x") is None
    wrong_type = access.fact_refusal(topics.PROPOSALS, "ProposalScreened", "depa")
    assert wrong_type == "ProposalScreened is not a fact of svc-proposals on smartcity.proposals"
    wrong_service = access.fact_refusal(topics.PROPOSALS, "ProposalSubmitted", "svc-approvals")
    assert wrong_service is not None
    assert "svc-approvals" in wrong_service


def test_docs_security_md_prints_the_current_acl_table() -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert text == with_acl_table(text), "docs/security.md is stale: run `make docs`"
    assert "| `User:svc-approvals` | topic | `smartcity.decisions` | literal | write |" in text


def test_the_product_spells_a_service_principal_in_one_place() -> None:
    """`svc-<service>` is written once (contracts/common.py `service_principal`); the product's
    code names services and derives their principals, so a rename cannot miss a copy."""
    spelled = re.compile(r"""["']svc-[a-z]+["']""")
    product = ["contracts", "services", "smartcity_kit", "scenarios", "tools"]
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in product
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "build" not in path.parts
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if spelled.search(line)
    ]
    assert found == []
