"""The `smartcity` CLI against the real stack, with the console service as a real process."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient
from typer.testing import CliRunner, Result

from smartcity_th.contracts.approvals import CertificationAwarded, ValidityPeriod
from smartcity_th.contracts.common import BilingualText
from smartcity_th.contracts.envelope import new_envelope
from smartcity_th.contracts.proposals import ProposalContent, ProposalSubmitted
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.console.cli import app
from tests.conftest import TEST_API_KEYS
from tests.e2e.test_walking_skeleton import DRAFT, submit
from tests.support import (
    Namespace,
    ServiceProcess,
    free_port,
    kafka_client,
    kafka_producer,
    poll,
    poll_progress,
    produce,
    read_topic,
    topic_partitions,
)

pytestmark = pytest.mark.e2e

LONG_THAI = "เมืองอัจฉริยะ" * 600  # 7,800 characters on one line

runner = CliRunner()


def cli(console: ServiceProcess, *args: str, key: str | None = None) -> Result:
    env = {"CONSOLE_URL": console.url, "COLUMNS": "250"}
    if key or console.api_key:
        env["CONSOLE_API_KEY"] = key or console.api_key
    return runner.invoke(app, list(args), env=env)


async def submit_phuket(
    services: dict[str, ServiceProcess], api_keys: dict[tuple[str, str], str]
) -> str:
    """Phuket's proposal submitted over HTTP; its id."""
    resp = await submit(services, api_keys[("proposals", "lg-phuket-city")], DRAFT)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["proposal_id"])


async def test_events_timeline_and_registry_from_the_audit_log(
    services: dict[str, ServiceProcess],
    console: ServiceProcess,
    api_keys: dict[tuple[str, str], str],
    topics: Topics,
) -> None:
    pid = await submit_phuket(services, api_keys)

    async def tail_shows_email() -> Result | None:
        # The console reads each topic on its own: the email's NotificationSent may be logged
        # before the ProposalSubmitted row (which shows the Thai area name) arrives.
        result = cli(console, "events", "tail", "--proposal", pid)
        out = result.output
        # One letter: to the agency's directory address (the proposal's contact in its Cc).
        addressee = "lg-phuket-city@smartcity.example.go.th"
        return result if addressee in out and "ภูเก็ตเมืองอัจฉริยะ" in out else None

    result = await poll(tail_shows_email, timeout=180, what="ProposalSubmitted and emails")
    assert result.exit_code == 0
    assert "ProposalSubmitted" in result.output
    only = cli(
        console,
        "events",
        "tail",
        "--proposal",
        pid,
        "--type",
        "ProposalSubmitted",
        "--producer",
        "svc-proposals",
        "--since",
        "1h",
    )
    assert only.exit_code == 0
    assert "ProposalSubmitted" in only.output
    assert "NotificationSent" not in only.output

    timeline = cli(console, "timeline", pid)
    assert timeline.exit_code == 0, timeline.output
    assert timeline.output.index("ProposalSubmitted") < timeline.output.index("NotificationSent")
    assert "lg-phuket-city@smartcity.example.go.th" in timeline.output
    missing = cli(console, "timeline", "no-such-proposal")
    assert missing.exit_code == 1
    assert "not found" in missing.output

    award = new_envelope(
        CertificationAwarded(
            certificate_number="SCT-2565-0101",
            area_name=BilingualText(th="ภูเก็ตเมืองอัจฉริยะ", en="Phuket Smart City"),
            province_code="83",
            subcommittee_meeting_id="1/2565",
            validity=ValidityPeriod(valid_from=dt.date(2022, 6, 1), deliver_by=dt.date(2024, 6, 1)),
        ),
        producer="svc-approvals",
        proposal_id=pid,
    )
    await produce(topics.decisions, [award])

    async def registered() -> Result | None:
        result = cli(console, "registry", "--province", "Phuket")
        return result if "SCT-2565-0101" in result.output else None

    reg = await poll(registered, timeout=30, what="certified area in the registry")
    assert reg.exit_code == 0
    # Other tests of this session certify areas in Phuket too: one province, however many areas.
    assert re.search(r"\d+ areas in 1 provinces", reg.output), reg.output
    assert "ภูเก็ต" in reg.output
    bad = cli(console, "registry", "--province", "Atlantis")
    assert bad.exit_code == 2

    async def in_the_pipeline() -> dict[str, Any] | None:
        """The proposal among the certified, a page of the stage at a time."""
        page: int | None = 0
        while page is not None:
            shown = cli(
                console, "pipeline", "--stage", "certified", "--page", str(page), "-o", "json"
            )
            assert shown.exit_code == 0, shown.output
            lane = json.loads(shown.output)
            found = [p for p in lane["proposals"] if p["proposal_id"] == pid]
            if found:
                return dict(found[0])
            page = lane["next_page"]
        return None

    certified = await poll(in_the_pipeline, timeout=30, what="the proposal certified")
    assert (certified["stage"], certified["due"]["kind"]) == ("certified", "delivery")
    summary = cli(console, "pipeline", "-o", "json")
    assert summary.exit_code == 0, summary.output
    stages = {s["stage"]: s for s in json.loads(summary.output)["stages"]}
    assert stages["certified"]["count"] >= 1
    assert len(stages["certified"]["proposals"]) <= json.loads(summary.output)["per_stage"]


async def test_dead_letters_replay_and_audit_verify(
    services: dict[str, ServiceProcess],
    console: ServiceProcess,
    console_key: str,
    api_keys: dict[tuple[str, str], str],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    poison_key = f"poison-{uuid.uuid4().hex[:8]}"
    marker = uuid.uuid4().hex
    async with kafka_producer() as producer:
        await producer.send_and_wait(
            topics.proposals,
            f"{{not json {marker} {LONG_THAI}".encode(),
            key=poison_key.encode(),
            headers=[("x-test", marker.encode())],
        )
    audit = mongo[ns.db("console")]["audit"]

    async def letters() -> list[dict[str, Any]] | None:
        found = await audit.find({"kind": "deadletter", "proposal_id": poison_key}).to_list(None)
        return found if len(found) >= 2 else None  # approvals and notifications refuse it

    found = await poll(letters, timeout=45, what="dead letters in the audit log")
    listed = cli(console, "deadletters", "list", "--error", "not JSON")
    assert listed.exit_code == 0
    letter_id = found[0]["dead_letter_id"]
    shown = cli(console, "deadletters", "show", letter_id)
    assert shown.exit_code == 0
    assert marker in shown.output
    assert "not JSON" in shown.output
    # Piped, the value is neither wrapped nor cut (it was cut at 5,000 characters).
    assert f"{{not json {marker} {LONG_THAI}" in shown.output.splitlines()

    refused = cli(console, "deadletters", "replay", letter_id, key=TEST_API_KEYS["lg-phuket-city"])
    assert refused.exit_code == 4, refused.output
    wrong = cli(console, "deadletters", "replay", letter_id, key="sck_not-a-key")
    assert wrong.exit_code == 4

    replayed = cli(
        console, "deadletters", "replay", letter_id, "--operator", "Somchai", key=console_key
    )
    assert replayed.exit_code == 0, replayed.output
    assert "1 replayed" in replayed.output
    replays = mongo[ns.db("console")]["replays"]
    record = await replays.find_one({"dead_letter_id": letter_id})
    assert record is not None
    assert record["replayed_by"] == "depa (Somchai)"
    copies = await read_topic(
        topics.proposals, min_records=2, timeout=20, where=lambda r: r.key == poison_key.encode()
    )
    assert len(copies) == 2
    assert copies[0].value == copies[1].value
    assert (("x-test", marker.encode())) in list(copies[1].headers)

    everything = cli(console, "deadletters", "replay", "--all", "--error", marker, key=console_key)
    assert everything.exit_code == 0, everything.output
    assert "no dead letters match" in everything.output  # the marker is in the value only
    bulk = cli(console, "deadletters", "replay", "--all", "--error", "not JSON", key=console_key)
    assert bulk.exit_code == 0, bulk.output
    assert "replayed" in bulk.output

    async def replay_entries() -> int | None:
        n = await audit.count_documents({"kind": "replay", "dead_letter_id": letter_id})
        return n or None

    await poll(replay_entries, what="replay recorded in the audit log")

    ok = cli(console, "audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "audit chain intact" in ok.output

    victim = await audit.find_one({"kind": "deadletter", "proposal_id": poison_key})
    assert victim is not None
    original = victim["body"]
    await audit.update_one(
        {"_id": victim["_id"]}, {"$set": {"body": original.replace("not JSON", "fine")}}
    )
    try:
        broken = cli(console, "audit", "verify")
        assert broken.exit_code == 1
        assert f"first broken link: entry #{victim['seq']}" in broken.output
    finally:
        await audit.update_one({"_id": victim["_id"]}, {"$set": {"body": original}})
    assert cli(console, "audit", "verify").exit_code == 0


async def test_redelivery_of_every_topic_appends_nothing_twice(
    services: dict[str, ServiceProcess],
    console: ServiceProcess,
    api_keys: dict[tuple[str, str], str],
    ns: Namespace,
    topics: Topics,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    """A second console process with a NEW consumer group re-reads every topic from the
    beginning, while the first keeps running; idempotency by (topic, partition, offset) keeps
    exactly one entry per Kafka record."""
    audit = mongo[ns.db("console")]["audit"]
    pid = await submit_phuket(services, api_keys)

    async def recorded() -> int | None:
        return await audit.count_documents({"proposal_id": pid}) or None

    await poll(recorded, timeout=60, what="the submission in the audit log")
    from_kafka = await audit.count_documents({"kind": {"$ne": "replay"}})
    port = free_port()
    env = {
        **console.env,
        "CONSOLE_HTTP_PORT": str(port),
        "CONSOLE_CONSUMER_GROUP": f"{ns.topics_prefix}console-reread-{uuid.uuid4().hex[:6]}",
    }
    second = ServiceProcess("console", env, port, console.log_path, api_key=console.api_key)
    second.start()
    try:
        second.wait_healthy()

        async def reread() -> bool:
            return await _duplicates(second) >= from_kafka

        # The session's topics hold every e2e test's records, and the machine may be busy (the
        # demo's services, other test runs): wait for as long as the second reader advances.
        await poll_progress(
            reread, lambda: _duplicates(second), stall=90, what="second reader re-read"
        )

        async def one_entry_per_record() -> tuple[int, int] | None:
            entries = await audit.count_documents({"kind": {"$ne": "replay"}})
            records = await _records_in(topics)
            again = await audit.count_documents({"kind": {"$ne": "replay"}})
            return (entries, records) if entries == records == again else None

        await poll_progress(
            one_entry_per_record,
            lambda: audit.count_documents({}),
            stall=60,
            what="one audit entry per Kafka record",
        )
        assert cli(second, "audit", "verify").exit_code == 0
    finally:
        second.stop()


async def _records_in(topics: Topics) -> int:
    consumer = AIOKafkaConsumer(**kafka_client(), group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics.all() for p in await topic_partitions(t)]
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        await consumer.stop()


async def _duplicates(proc: ServiceProcess) -> float:
    import httpx

    async with httpx.AsyncClient(base_url=proc.url) as http:
        text = (await http.get("/metrics")).text
    prefix = 'smartcity_console_records_total{outcome="duplicate"}'
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


def test_an_unreachable_console_gives_exit_code_3() -> None:
    result = runner.invoke(app, ["audit", "verify", "--url", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 3
    assert "unreachable" in result.output


async def test_a_refused_claim_shows_in_the_timeline_with_its_refusal_and_dead_letter(
    services: dict[str, ServiceProcess],
    console: ServiceProcess,
    topics: Topics,
) -> None:
    pid = f"claim-{uuid.uuid4().hex[:8]}"
    content = ProposalContent.model_validate(
        {
            **{k: v for k, v in DRAFT.items() if k != "contact_emails"},
            "province": {"code": "40", "name_th": "ขอนแก่น", "name_en": "Khon Kaen"},
        }
    )
    claim = new_envelope(
        ProposalSubmitted(
            applicant="lg-phuket-city", content=content, contact_emails=DRAFT["contact_emails"]
        ),
        producer="lg-phuket-city",
        proposal_id=pid,
    )
    await produce(topics.intake, [claim])

    async def refused() -> Result | None:
        result = cli(console, "timeline", pid)
        done = result.exit_code == 0 and "IntakeRejected" in result.output
        return result if done and "proposals refused" in result.output else None

    timeline = await poll(refused, timeout=45, what="claim, refusal and dead letter")
    out = timeline.output
    assert out.index("claim (not yet accepted)") < out.index("IntakeRejected")
    assert "submitted" not in out  # a claim has no stage: only facts move a proposal


async def test_follow_prints_events_as_they_arrive_and_filters_by_province_and_agency(
    services: dict[str, ServiceProcess],
    console: ServiceProcess,
    api_keys: dict[tuple[str, str], str],
) -> None:
    started = asyncio.to_thread(
        cli,
        console,
        "events",
        "tail",
        "--follow",
        "--type",
        "ProposalSubmitted",
        "-n",
        "0",
        "--interval",
        "0.3",
        "--max-seconds",
        "12",
    )
    follower = asyncio.ensure_future(started)
    await asyncio.sleep(2)  # let the follower take its starting position
    body = {
        **DRAFT,
        "province": "Bangkok",
        "area_name": {"th": "สามย่านสมาร์ทซิตี้", "en": "Samyan Smart City"},
    }
    resp = await submit(services, api_keys[("proposals", "pd-samyan")], body)
    assert resp.status_code == 201, resp.text
    pid = resp.json()["proposal_id"]
    followed = await follower
    assert followed.exit_code == 0
    assert pid in followed.output
    assert "สามย่านสมาร์ทซิตี้" in followed.output

    async with httpx.AsyncClient(
        base_url=console.url, headers={"X-API-Key": console.api_key}
    ) as http:
        by_place = (
            await http.get(
                "/api/events", params={"province": "กรุงเทพมหานคร", "agency": "pd-samyan"}
            )
        ).json()
        assert pid in {r["proposal_id"] for r in by_place}
        assert {r["province_code"] for r in by_place} == {"10"}
        elsewhere = (await http.get("/api/events", params={"province": "Phuket"})).json()
        assert pid not in {r["proposal_id"] for r in elsewhere}
        bad = await http.get("/api/events", params={"province": "Atlantis"})
        assert bad.status_code == 400


def test_status_reports_the_local_stack() -> None:
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0


async def test_lag_shows_every_service_group_under_the_consoles_acls(
    services: dict[str, ServiceProcess],
    console: ServiceProcess,
    api_keys: dict[tuple[str, str], str],
    ns: Namespace,
) -> None:
    """The console's principal describes every consumer group of the deployment (DESCRIBE on
    groups in contracts/access.py), so `smartcity lag` sees the other services, not only its
    own group. (A group appears once it has committed offsets: one submission does that.)"""
    await submit_phuket(services, api_keys)
    # The two services that consume the submission's fact (smartcity.proposals).
    wanted = {f"{ns.topics_prefix}{name}" for name in ("approvals", "notifications")}

    async def every_group() -> list[dict[str, Any]] | None:
        result = cli(console, "lag", "--output", "json")
        assert result.exit_code == 0, result.output
        rows = json.loads(result.output)
        return rows if wanted <= {r["group"] for r in rows} else None

    rows = await poll(every_group, timeout=60, what="every service's group in the lag view")
    assert all(r["lag"] >= 0 and r["end"] >= r["committed"] >= 0 for r in rows), rows


async def test_dead_letters_and_events_come_a_page_at_a_time(
    services: dict[str, ServiceProcess],
    console: ServiceProcess,
    console_key: str,
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    """The CLI, the JSON API and the web page walk the dead letters by keyset pages: each page
    says where the older one starts, and the pages together hold every letter once."""
    marker = f"pages{uuid.uuid4().hex[:8]}"
    keys = [f"{marker}-{i}" for i in range(3)]
    async with kafka_producer() as producer:
        for key in keys:
            await producer.send_and_wait(topics.proposals, b"{not json", key=key.encode())
    audit = mongo[ns.db("console")]["audit"]

    async def letters() -> list[int] | None:
        found = await audit.find(
            {"kind": "deadletter", "proposal_id": {"$in": keys}}, {"seq": 1}
        ).to_list(None)
        return sorted((d["seq"] for d in found), reverse=True) if len(found) >= 6 else None

    stored = await poll(letters, timeout=60, what="the dead letters of three poison records")
    newest = (await audit.find_one({"kind": "deadletter"}, sort=[("seq", -1)]) or {})["seq"]

    first = cli(console, "deadletters", "list", "--limit", "2", "--output", "json")
    assert first.exit_code == 0, first.output
    assert next(d["seq"] for d in json.loads(first.output)) == newest
    walked: list[int] = []
    args = ["deadletters", "list", "--limit", "2"]
    for _ in range(50):
        page = cli(console, *args)
        assert page.exit_code == 0, page.output
        rows = [line.split("\t") for line in page.output.splitlines() if "\t" in line]
        walked += [int(cells[0]) for cells in rows if cells[0].isdigit()]
        older = re.search(
            r"older / เก่ากว่า: smartcity (deadletters list --before \d+ --limit 2)", page.output
        )
        if older is None or set(stored) <= set(walked):
            break
        args = older.group(1).split()
    assert walked == sorted(walked, reverse=True)
    assert len(set(walked)) == len(walked)
    assert set(stored) <= set(walked)

    async with httpx.AsyncClient(base_url=console.url, headers={"X-API-Key": console_key}) as http:
        resp = await http.get("/api/deadletters", params={"limit": 1})
        assert resp.status_code == 200
        assert len(resp.json()) == 1
        assert "next" in resp.links
        next_page = await http.get(resp.links["next"]["url"])
        assert next_page.status_code == 200
        assert next_page.json()[0]["seq"] < resp.json()[0]["seq"]
        assert "prev" in next_page.links
        both = await http.get("/api/deadletters", params={"before_seq": 5, "after_seq": 1})
        assert both.status_code == 400
        events = await http.get("/api/events", params={"newest": "true", "limit": 2})
        assert "next" in events.links

    tail = cli(console, "events", "tail", "-n", "2", "--before", str(stored[0]))
    assert tail.exit_code == 0, tail.output
    first_words = [line.split()[0] for line in tail.output.splitlines() if line.strip()]
    shown = [int(word) for word in first_words if word.isdigit()]
    assert shown
    assert max(shown) < stored[0]
    assert "older / เก่ากว่า: smartcity events tail --before" in tail.output
