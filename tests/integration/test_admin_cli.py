"""`smartcity-admin ... --output json` against the real broker: what programs (the demo
scenario) read from the admin command: API keys, signing keys, the key list, an agency's Kafka
credentials; and its errors (one line on stderr, a documented exit code)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from smartcity_th.contracts.access import DEFAULT_AGENCY_QUOTA
from smartcity_th.contracts.topics import Topics
from smartcity_th.kit import ClaimSigner
from smartcity_th.services.common.kafka_admin import KafkaAdmin
from smartcity_th.services.common.kafka_auth import admin_auth
from tests.support import KAFKA, Namespace, admin_cli, free_port

pytestmark = pytest.mark.integration


def admin(ns: Namespace, *args: str) -> subprocess.CompletedProcess[str]:
    return admin_cli(ns, *args)


def admin_json(ns: Namespace, *args: str) -> Any:
    done = admin(ns, *args, "--output", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def keys_of(ns: Namespace, agency_id: str) -> list[dict[str, Any]]:
    return [row for row in admin_json(ns, "list") if row["agency"] == agency_id]


def test_api_keys_for_several_agencies_in_one_call_and_none_if_one_is_unknown(
    ns: Namespace,
) -> None:
    keys = admin_json(ns, "api-key", "issue", "depa", "lg-phuket-city", "--label", "batch")
    assert set(keys) == {"depa", "lg-phuket-city"}
    assert all(key.startswith("sck_") for key in keys.values())
    assert keys["depa"] != keys["lg-phuket-city"]

    before = len(keys_of(ns, "lg-phuket-city"))
    refused = admin(ns, "api-key", "issue", "lg-phuket-city", "lg-atlantis")
    assert refused.returncode == 2
    assert "lg-atlantis" in refused.stdout
    assert len(keys_of(ns, "lg-phuket-city")) == before


def test_a_signing_key_is_written_listed_live_and_then_revoked(
    ns: Namespace, tmp_path: Path
) -> None:
    added = admin_json(ns, "signing-key", "add", "des-subcommittee", "--out", str(tmp_path))
    pem = Path(added["private_key"])
    assert pem.parent == tmp_path
    assert pem.stat().st_mode & 0o777 == 0o600
    assert ClaimSigner.from_pem("des-subcommittee", pem).key_id == added["key_id"]
    [row] = [r for r in keys_of(ns, "des-subcommittee") if r["id"] == added["key_id"]]
    assert (row["kind"], row["revoked"]) == ("signing", None)

    assert admin(ns, "revoke", added["key_id"], "--reason", "test").returncode == 0
    [row] = [r for r in keys_of(ns, "des-subcommittee") if r["id"] == added["key_id"]]
    assert row["revoked"] is not None


def test_ensure_keeps_a_service_key_while_it_is_current_and_replaces_a_revoked_one(
    ns: Namespace, tmp_path: Path
) -> None:
    """`signing-key ensure` (what `make up` runs for svc-approvals): a new pair the first time,
    the same key while the registry holds it as current, a new one once it is revoked."""
    first = admin_json(ns, "signing-key", "ensure", "svc-console", "--out", str(tmp_path))
    pem = tmp_path / "svc-console.pem"
    assert (first["new"], first["private_key"]) == (True, str(pem))
    assert pem.stat().st_mode & 0o777 == 0o600
    assert ClaimSigner.from_pem("svc-console", pem).key_id == first["key_id"]
    again = admin_json(ns, "signing-key", "ensure", "svc-console", "--out", str(tmp_path))
    assert (again["new"], again["key_id"]) == (False, first["key_id"])

    assert admin(ns, "revoke", first["key_id"], "--reason", "test").returncode == 0
    renewed = admin_json(ns, "signing-key", "ensure", "svc-console", "--out", str(tmp_path))
    assert renewed["new"] is True
    assert renewed["key_id"] != first["key_id"]
    assert ClaimSigner.from_pem("svc-console", pem).key_id == renewed["key_id"]
    [row] = [r for r in keys_of(ns, "svc-console") if r["id"] == renewed["key_id"]]
    assert row["revoked"] is None


def test_kafka_credentials_are_what_the_integrator_kit_takes_and_they_log_in(
    ns: Namespace, tmp_path: Path
) -> None:
    agency_id = f"lg-cli-{ns.run_id}"
    onboarded = admin(
        ns,
        "onboard",
        agency_id,
        "--kind",
        "local_government",
        "--name-th",
        "เทศบาลทดสอบ",
        "--name-en",
        "Test Municipality",
        "--email-domain",
        "Test.example.go.th",
        "--email-domain",
        "test.example.go.th",
        "--out",
        str(tmp_path),
    )
    assert onboarded.returncode == 0, onboarded.stdout + onboarded.stderr
    try:
        domains = admin_json(ns, "email-domains", agency_id)
        assert domains == {"agency": agency_id, "email_domains": ["test.example.go.th"]}
        changed_domains = admin_json(
            ns,
            "email-domains",
            agency_id,
            "--add",
            "b.example.go.th",
            "--remove",
            "test.example.go.th",
        )
        assert changed_domains["email_domains"] == ["b.example.go.th"]
        assert admin(ns, "email-domains", agency_id, "--add", "@b.example.go.th").returncode == 2
        assert admin(ns, "email-domains", "lg-atlantis").returncode == 2
        first = admin_json(ns, "kafka-credentials", agency_id)
        again = admin_json(ns, "kafka-credentials", agency_id)
        assert again["password"] != first["password"]  # reset: the new password only
        assert again["intake_topic"] == Topics(ns.topics_prefix).intake
        assert again["bootstrap"] == KAFKA
        assert (again["security_protocol"], again["username"]) == ("SASL_PLAINTEXT", agency_id)
        kafka = KafkaAdmin(admin_auth(KAFKA))
        assert kafka.can_login(agency_id, again["password"])
        assert not kafka.can_login(agency_id, first["password"])
        assert admin(ns, "kafka-credentials", "lg-atlantis").returncode == 2
        assert quota_becomes(ns, agency_id, DEFAULT_AGENCY_QUOTA.as_kafka())
        changed = admin(ns, "quota", agency_id, "--producer-byte-rate", "1000")
        assert changed.returncode == 0, changed.stdout + changed.stderr
        wanted = DEFAULT_AGENCY_QUOTA.as_kafka() | {"producer_byte_rate": 1000.0}
        assert quota_becomes(ns, agency_id, wanted)
    finally:
        assert admin(ns, "revoke-agency", agency_id).returncode == 0


def quota_becomes(ns: Namespace, agency_id: str, wanted: dict[str, float]) -> bool:
    """Onboarding sets the agency's Kafka quotas; the broker holds them a moment later."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if admin_json(ns, "quota", agency_id)["quota"] == wanted:
            return True
        time.sleep(0.5)
    raise AssertionError(f"{agency_id}'s quota never became {wanted}")


def test_with_kafka_unreachable_the_admin_says_so_in_one_line_with_exit_code_3(
    ns: Namespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = free_port()  # nothing listens there
    monkeypatch.setenv("SMARTCITY_ADMIN_KAFKA_BOOTSTRAP", f"127.0.0.1:{closed}")
    done = subprocess.run(
        [sys.executable, "-m", "smartcity_th.services.admin.cli", "list", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    first, *rest = done.stderr.splitlines()
    assert first == (
        f"smartcity-admin: error: Kafka at 127.0.0.1:{closed} is unreachable: "
        "no bootstrap server answered"
    )
    assert len(rest) <= 1  # and a hint


def test_the_old_json_flag_still_prints_json(ns: Namespace) -> None:
    done = admin(ns, "list", "--json")
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout), list)


def kit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartcity_th.kit.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_agency_makes_its_own_key_and_the_admin_registers_only_the_public_half(
    ns: Namespace, tmp_path: Path
) -> None:
    """Issue 24: `smartcity-kit keygen` on the agency's machine, `smartcity-admin signing-key
    register` with the public key file; a revoked key can never be registered again."""
    made = kit("keygen", "des-subcommittee", "--out", str(tmp_path / "agency"), "--output", "json")
    assert made.returncode == 0, made.stderr
    pair = json.loads(made.stdout)
    private, public = Path(pair["private_key"]), Path(pair["public_key"])
    assert private.stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE" not in public.read_bytes()

    refused = admin(ns, "signing-key", "register", "des-subcommittee", "--public-key", str(private))
    assert refused.returncode == 2  # a private key file is refused, never read as a key
    assert "private key" in refused.stderr

    registered = admin_json(
        ns, "signing-key", "register", "des-subcommittee", "--public-key", str(public)
    )
    assert registered["key_id"] == pair["key_id"]
    assert ClaimSigner.from_pem("des-subcommittee", private).key_id == pair["key_id"]
    [row] = [r for r in keys_of(ns, "des-subcommittee") if r["id"] == pair["key_id"]]
    assert row["revoked"] is None

    assert admin(ns, "revoke", pair["key_id"]).returncode == 0
    again = admin(ns, "signing-key", "register", "des-subcommittee", "--public-key", str(public))
    assert again.returncode == 1
    assert "revocation is final" in again.stdout + again.stderr
    [row] = [r for r in keys_of(ns, "des-subcommittee") if r["id"] == pair["key_id"]]
    assert row["revoked"] is not None


async def test_the_seed_gives_the_directorys_email_domains_to_an_agency_registered_without(
    ns: Namespace,
) -> None:
    """A stack whose registry had the CSV's agencies before agencies had email domains gets
    them at its next `smartcity-admin seed` (`make up`); domains the admin set are kept."""
    import dataclasses

    from smartcity_th.contracts.agencies import agency
    from smartcity_th.services.common.registry_admin import RegistryAdmin

    older = dataclasses.replace(
        agency("lg-phuket-city"), agency_id=f"lg-seed-{ns.run_id}", email_domains=()
    )
    kept = dataclasses.replace(older, agency_id=f"lg-kept-{ns.run_id}", email_domains=("a.go.th",))
    directory = {a.agency_id: a for a in (older, kept)}
    async with RegistryAdmin(KAFKA, Topics(ns.topics_prefix)) as registry:
        await registry.register_agency(older)
        await registry.register_agency(kept)
        assert registry.state.agency(older.agency_id).email_domains == ()
        newer = {
            a.agency_id: dataclasses.replace(a, email_domains=("example.go.th",))
            for a in directory.values()
        }
        assert await registry.seed(newer) == (0, 1)
        assert await registry.seed(newer) == (0, 0)
    async with RegistryAdmin(KAFKA, Topics(ns.topics_prefix)) as reread:
        assert reread.state.agency(older.agency_id).email_domains == ("example.go.th",)
        assert reread.state.agency(kept.agency_id).email_domains == ("a.go.th",)


def test_an_agency_id_with_a_dot_is_refused_at_onboarding(ns: Namespace, tmp_path: Path) -> None:
    done = admin(
        ns,
        "onboard",
        f"lg-dot-{ns.run_id}.orders",
        "--kind",
        "local_government",
        "--name-th",
        "ทดสอบ",
        "--name-en",
        "Test",
        "--out",
        str(tmp_path),
    )
    assert done.returncode == 2
    assert "no dots" in done.stderr
    assert not [r for r in admin_json(ns, "list") if r["agency"].startswith(f"lg-dot-{ns.run_id}")]
