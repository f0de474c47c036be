"""An agency installs only the wire contracts and the integrator kit (issue 25): both wheels are
built from this repository and installed into a fresh virtualenv with nothing else; a claim
built with the contracts' models and signed and sent with the kit, from that virtualenv, becomes
a fact on the real broker. The time from the empty virtualenv to the fact is written to
.local/logs/tests/integrator-wheels.json with the wheels' sizes and what got installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import Topics
from tests import builders
from tests.support import (
    LOCAL,
    ROOT,
    Namespace,
    ServiceProcess,
    find_published,
    kit_environment,
    poll,
    write_private_key,
)

pytestmark = pytest.mark.e2e

# What only the backbone needs: none of it may reach an agency's environment.
BACKBONE_ONLY = {
    "smartcity-th",
    "fastapi",
    "starlette",
    "uvicorn",
    "pymongo",
    "faststream",
    "confluent-kafka",
    "opentelemetry-sdk",
    "aiosmtplib",
    "aiosmtpd",
    "jinja2",
    "typer",
    "structlog",
    "prometheus-client",
    "httpx",
}

# Run with the fresh virtualenv's Python: what an integrator writes, nothing from the repository.
AGENCY_PROGRAM = """
import asyncio, json, sys
from pathlib import Path

from smartcity_th.contracts.proposals import ProposalSubmitted
from smartcity_th.kit import ClaimSigner, IntakeProducer, KafkaConnection

agency, pem, topic, proposal_id, payload = sys.argv[1:6]


async def main() -> None:
    signer = ClaimSigner.from_pem(agency, Path(pem))
    record = signer.claim(ProposalSubmitted.model_validate_json(payload), proposal_id=proposal_id)
    async with IntakeProducer(KafkaConnection.from_env("unset"), topic) as intake:
        await intake.send(record)
    print(json.dumps({"event_id": str(record.envelope.event_id)}))


asyncio.run(main())
"""


def run(*args: str | Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert done.returncode == 0, f"{args[:4]} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done.stdout


async def test_the_contracts_and_kit_wheels_alone_send_a_claim_that_becomes_a_fact(
    services: dict[str, ServiceProcess],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
    tmp_path: Path,
) -> None:
    wheels = tmp_path / "wheels"
    # Built from copies: pip builds a local folder in place, and setuptools' build/ left in the
    # checkout would be read by mypy as a second copy of the package.
    sources = []
    for folder in ("contracts", "smartcity_kit"):
        sources.append(tmp_path / "src" / folder)
        shutil.copytree(
            ROOT / folder, sources[-1], ignore=shutil.ignore_patterns("build", "*.egg-info")
        )
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "-w",
        wheels,
        *sources,
    )
    built = {w.name: w.stat().st_size for w in sorted(wheels.glob("*.whl"))}
    assert len(built) == 2, built

    started = time.monotonic()
    venv = tmp_path / "agency-venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(
        python,
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        *sorted(wheels.glob("*.whl")),
    )
    installed_at = time.monotonic()

    listed = json.loads(run(python, "-m", "pip", "list", "--format=json"))
    names = {p["name"].lower() for p in listed}
    assert {"smartcity-th-contracts", "smartcity-th-kit"} <= names
    assert names & BACKBONE_ONLY == set()
    site = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    ours = sorted(p.name for p in (site / "smartcity_th").iterdir() if p.name != "__pycache__")
    assert ours == ["contracts", "kit"]
    for generic in ("contracts", "services", "scenarios", "smartcity_kit"):
        assert not (site / generic).exists(), f"a generic top-level package {generic!r} installed"

    applicant = "lg-phuket-city"
    claim = builders.submission(applicant, builders.new_proposal_id("WH"))
    pem = write_private_key(applicant, tmp_path / f"{applicant}.pem")
    env = kit_environment()
    sent = json.loads(
        run(
            python,
            "-c",
            AGENCY_PROGRAM,
            applicant,
            pem,
            topics.intake,
            claim.proposal_id,
            claim.payload.model_dump_json(),
            env=env,
        )
    )
    proposals = mongo[ns.db("proposals")]["proposals"]
    stored = await poll(
        lambda: find_published(proposals, {"_id": claim.proposal_id}),
        timeout=120,
        what="the claim sent from the agency's virtualenv stored and published",
    )
    assert stored["applicant"] == applicant
    seconds = time.monotonic() - started

    report = {
        "wheels_bytes": built,
        "installed": sorted(f"{p['name']}=={p['version']}" for p in listed),
        "install_seconds": round(installed_at - started, 1),
        "empty_venv_to_fact_seconds": round(seconds, 1),
        "event_id": sent["event_id"],
    }
    out = LOCAL / "logs" / "tests" / "integrator-wheels.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
