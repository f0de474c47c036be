"""The Java integrator kit (kit-java/, issue 25): Maven builds it and runs its JUnit tests (the
shared signing vectors), then a claim signed and sent by the Java kit, over SASL as the stack
requires, becomes a fact. Fails, never skips, without Java or Maven."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import Topics
from tests import builders
from tests.support import (
    ROOT,
    Namespace,
    ServiceProcess,
    find_published,
    kit_environment,
    poll,
    signer_for,
    write_private_key,
)

pytestmark = pytest.mark.e2e

KIT = ROOT / "kit-java"


def build() -> tuple[str, str]:
    """`mvn package` (compiles, runs the JUnit tests, jars); the runtime classpath; Maven's
    output."""
    mvn, java = shutil.which("mvn"), shutil.which("java")
    assert mvn, "Maven is required for the Java kit: apt-get install maven"
    assert java, "Java 17+ is required for the Java kit"
    done = subprocess.run(
        [mvn, "-B", "package", "dependency:build-classpath", "-Dmdep.outputFile=target/cp.txt"],
        cwd=KIT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    classpath = (KIT / "target" / "cp.txt").read_text(encoding="utf-8").strip()
    return f"{KIT / 'target' / 'classes'}:{classpath}", done.stdout


def send_with_java(classpath: str, args: list[str], env: dict[str, str]) -> str:
    """`SendClaim` as an agency system runs it; its standard output."""
    java = shutil.which("java")
    assert java
    sent = subprocess.run(
        [java, "-cp", classpath, "th.smartcity.kit.SendClaim", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr[-3000:]
    return sent.stdout


async def test_the_java_kit_signs_the_shared_vectors_and_its_claim_becomes_a_fact(
    services: dict[str, ServiceProcess],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
    tmp_path: Path,
) -> None:
    classpath, output = await asyncio.to_thread(build)
    runs = re.findall(r"Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)", output)
    assert runs, output[-2000:]
    total, failures, errors, skipped = map(int, runs[-1])
    assert total >= 3
    assert (failures, errors, skipped) == (0, 0, 0)

    applicant = "lg-phuket-city"
    signer = signer_for(applicant)
    pem = write_private_key(applicant, tmp_path / "key.pem")
    claim = builders.submission(applicant, builders.new_proposal_id("JV"))
    env = kit_environment()
    args = [applicant, signer.key_id, str(pem), topics.intake, claim.proposal_id,
            claim.event_type, claim.payload.model_dump_json()]  # fmt: skip
    sent = await asyncio.to_thread(send_with_java, classpath, args, env)
    event_id = json.loads(sent.strip().splitlines()[-1])["event_id"]

    proposals = mongo[ns.db("proposals")]["proposals"]
    stored = await poll(
        lambda: find_published(proposals, {"_id": claim.proposal_id}),
        timeout=120,
        what="the Java kit's claim stored and published",
    )
    assert stored["applicant"] == applicant
    assert event_id
