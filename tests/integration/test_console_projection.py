"""The console's projections (the pipeline's proposals, the registry's certificates and their
shards' summaries) on the real FerretDB: kept as the console records, unchanged by redelivery
and by records read out of order, right with two console instances writing one database, and
rebuilt once from a log stored before them."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts import topics as topic_names
from smartcity_th.contracts.examples import PROPOSAL_ID, example_envelope
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.record import Record
from smartcity_th.services.console.audit import MongoAuditLog
from smartcity_th.services.console.flow import lane_summary, pipeline_docs, pipeline_of
from smartcity_th.services.console.handlers import Recorder
from smartcity_th.services.console.projection import Projections
from smartcity_th.services.console.views import certificate_docs, registry, registry_summary
from tests.support import Namespace

pytestmark = pytest.mark.integration

Doc = dict[str, Any]
LIFECYCLE = (
    (topic_names.PROPOSALS, "ProposalSubmitted"),
    (topic_names.DECISIONS, "ProposalScreened"),
    (topic_names.DECISIONS, "SubcommitteeApproved"),
    (topic_names.DECISIONS, "SteeringCommitteeAcknowledged"),
    (topic_names.DECISIONS, "CabinetEndorsed"),
    (topic_names.DECISIONS, "CertificationAwarded"),
)
EXAMPLE_CERTIFICATE = b"SCT-2565-0016"


class Facts:
    """Records of the example lifecycle's facts about other proposals, as services publish
    them (each its own event id, offset and certificate number)."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.offset = 0

    def lifecycle(self, pid: str, number: int) -> list[Record]:
        return [self.fact(topic, event_type, pid, number) for topic, event_type in LIFECYCLE]

    def fact(self, topic: str, event_type: str, pid: str, number: int) -> Record:
        env = example_envelope(event_type)
        event_id = str(uuid.uuid4())
        value = (
            env.to_bytes()
            .replace(PROPOSAL_ID.encode(), pid.encode())
            .replace(str(env.event_id).encode(), event_id.encode())
            .replace(EXAMPLE_CERTIFICATE, f"SCT-2569-{number:04d}".encode())
        )
        headers = tuple(
            (k, (event_id if v == str(env.event_id) else v).encode())
            for k, v in env.headers().items()
        )
        self.offset += 1
        return Record(self.topics.name(topic), 0, self.offset, pid.encode(), value, headers)


async def a_console(
    mongo: AsyncMongoClient[Doc], ns: Namespace, name: str, *, projected: bool = True
) -> tuple[MongoAuditLog, Projections, Recorder]:
    """One console instance on the database `name` (several may share one)."""
    db = mongo[ns.db(f"console_{name}")]
    audit = MongoAuditLog(db)
    await audit.ensure_indexes()
    await audit.repair()
    projections = Projections(db, audit)
    await projections.ensure_indexes()
    topics = Topics(ns.topics_prefix)
    return (
        audit,
        projections,
        Recorder(audit, topics, projections=projections if projected else None),
    )


async def stored(projections: Projections) -> dict[str, list[Doc]]:
    out: dict[str, list[Doc]] = {}
    for name, collection in (
        ("pipeline", projections.proposals),
        ("registry", projections.certificates),
        ("pipeline_shards", projections.lane_summaries),
        ("registry_shards", projections.registry_summaries),
    ):
        out[name] = sorted(await collection.find({}).to_list(None), key=lambda d: str(d["_id"]))
    return out


async def expect_the_fold_of_the_log(audit: MongoAuditLog, projections: Projections) -> None:
    """The stored documents and summaries are what the pure rules make of every entry."""
    entries = await audit.page({}, limit=10_000)
    now = dt.datetime.now(dt.UTC)
    got = await stored(projections)
    assert got["pipeline"] == sorted(pipeline_docs(entries), key=lambda d: d["_id"])
    assert got["registry"] == sorted(certificate_docs(entries), key=lambda d: d["_id"])
    for name, docs_of, summarise in (
        ("pipeline_shards", got["pipeline"], lane_summary),
        ("registry_shards", got["registry"], registry_summary),
    ):
        for summary in got[name]:
            shard = [d for d in docs_of if d["shard"] == summary["_id"]]
            assert summary == {**summarise(shard), "_id": summary["_id"]}
        assert {d["shard"] for d in docs_of} <= {s["_id"] for s in got[name]}
    assert await projections.pipeline(now, None) == pipeline_of(
        [lane_summary(pipeline_docs(entries))], now
    )
    assert await projections.registry(None, None) == registry(entries)


async def test_the_projections_fold_what_is_recorded_whatever_its_order_or_redelivery(
    mongo: AsyncMongoClient[Doc], ns: Namespace
) -> None:
    audit, projections, recorder = await a_console(mongo, ns, "projected")
    facts = Facts(Topics(ns.topics_prefix))
    records = {pid: facts.lifecycle(pid, n) for n, pid in enumerate(("PJ-1", "PJ-2", "PJ-3"))}
    for record in records["PJ-1"]:
        await recorder.record(record)
    for record in reversed(records["PJ-2"]):  # the decisions read before the submission
        await recorder.record(record)
    for record in records["PJ-3"][:3]:
        await recorder.record(record)
    await projections.refresh_changed()
    await expect_the_fold_of_the_log(audit, projections)
    docs = {d["_id"]: d for d in (await stored(projections))["pipeline"]}
    assert (docs["PJ-1"]["stage"], docs["PJ-2"]["stage"]) == ("certified", "certified")
    assert docs["PJ-2"]["area_en"]
    assert docs["PJ-2"]["province_en"]
    assert docs["PJ-3"]["stage"] == "subcommittee_approved"
    before = await stored(projections)

    for record in [r for rs in records.values() for r in rs[:3]]:  # redelivered
        assert await recorder.record(record) is None
    await projections.refresh_changed()
    assert await stored(projections) == before

    pipeline = await projections.pipeline(dt.datetime.now(dt.UTC), None)
    counts = {s["stage"]: s["count"] for s in pipeline["stages"]}
    assert (counts["certified"], counts["subcommittee_approved"], pipeline["total"]) == (2, 1, 3)
    reg = await projections.registry(None, None)
    assert (reg["area_count"], reg["areas_listed"]) == (2, True)
    lane = await projections.lane("certified", None, dt.datetime.now(dt.UTC), None)
    assert lane["pages"] >= 1
    assert {p["proposal_id"] for p in lane["proposals"]} <= {"PJ-1", "PJ-2"}


async def test_two_consoles_on_one_database_keep_the_fold_of_every_entry(
    mongo: AsyncMongoClient[Doc], ns: Namespace
) -> None:
    """Two instances share the consumer group's partitions, so facts about one proposal come
    to both at once (one reads the proposals topic, the other the decisions topic): each
    document and summary still ends as the fold of every entry."""
    first, second = await a_console(mongo, ns, "shared"), await a_console(mongo, ns, "shared")
    facts = Facts(Topics(ns.topics_prefix))
    lifecycles = [facts.lifecycle(f"PJ-{k:02d}", k) for k in range(12)]
    share: tuple[list[Record], list[Record]] = ([], [])
    for records in lifecycles:
        for k, record in enumerate(records):
            share[k % 2].append(record)

    async def consume(recorder: Recorder, records: list[Record]) -> None:
        for record in records:
            await recorder.record(record)

    await asyncio.gather(consume(first[2], share[0]), consume(second[2], share[1]))
    await asyncio.gather(first[1].refresh_changed(), second[1].refresh_changed())
    await expect_the_fold_of_the_log(first[0], first[1])
    pipeline = await second[1].pipeline(dt.datetime.now(dt.UTC), None)
    assert {s["stage"]: s["count"] for s in pipeline["stages"]}["certified"] == 12


async def test_projections_missing_at_start_are_rebuilt_once_from_the_log(
    mongo: AsyncMongoClient[Doc], ns: Namespace
) -> None:
    audit, _, unprojected = await a_console(mongo, ns, "rebuilt", projected=False)
    facts = Facts(Topics(ns.topics_prefix))
    lifecycles = [facts.lifecycle(f"PJ-{k:02d}", k) for k in range(5)]
    for k, records in enumerate(lifecycles):
        for record in records[: 3 + k % 4]:
            await unprojected.record(record)
    _, projections, recorder = await a_console(mongo, ns, "rebuilt")
    assert (await projections.pipeline(dt.datetime.now(dt.UTC), None))["total"] == 0

    assert await projections.rebuild_if_missing() is True
    await expect_the_fold_of_the_log(audit, projections)
    assert await projections.rebuild_if_missing() is False  # once

    await recorder.record(lifecycles[0][3])  # then kept as the console records
    await projections.refresh_changed()
    await expect_the_fold_of_the_log(audit, projections)
    docs = {d["_id"]: d for d in (await stored(projections))["pipeline"]}
    assert docs["PJ-00"]["stage"] == "steering_acknowledged"
