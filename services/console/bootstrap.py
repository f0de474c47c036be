"""Wires the console service: one place where every dependency is built."""

from __future__ import annotations

from fastapi import FastAPI

from smartcity_th.services.common.auth import ApiKeys
from smartcity_th.services.common.kafka import ReplayProducer, StoredRecord, read_record
from smartcity_th.services.common.runtime import Runtime
from smartcity_th.services.console.audit import MongoAuditLog
from smartcity_th.services.console.config import ConsoleSettings
from smartcity_th.services.console.entrypoints import http, kafka, web, workflow
from smartcity_th.services.console.handlers import Recorder, Replayer
from smartcity_th.services.console.lag import LagMonitor
from smartcity_th.services.console.projection import Projections
from smartcity_th.services.console.sessions import Sessions

NAME = "console"


def build(settings: ConsoleSettings) -> tuple[Runtime, FastAPI]:
    rt = Runtime(NAME, settings, settings.mongo_db)
    audit = MongoAuditLog(rt.db)
    projections = Projections(rt.db, audit)
    keys = ApiKeys(rt.db, rt.registry)
    sessions = Sessions(rt.db, settings.session_hours, rt.registry, https=settings.https)

    replays = ReplayProducer(settings.kafka_auth(NAME))
    rt.on_stop.append(replays.stop)

    async def repair() -> None:
        await audit.repair()

    async def rebuild() -> None:
        await projections.rebuild_if_missing()

    rt.on_start += [
        audit.ensure_indexes,
        repair,
        projections.ensure_indexes,
        rebuild,
        sessions.load_secret,
    ]
    rt.background.append(projections.run)

    async def fetch_original(topic: str, partition: int, offset: int) -> StoredRecord | None:
        return await read_record(settings.kafka_auth(NAME), topic, partition, offset)

    rt.on_start.append(sessions.purge_expired)
    lag = LagMonitor(settings.kafka_auth(NAME), list(rt.topics.all()), settings.lag_seconds)
    rt.background.append(lag.run)
    replayer = Replayer(audit, replays.publish, rt.topics, fetch_original)
    kafka.register(
        rt.broker,
        rt.topics,
        settings.consumer_group,
        rt.consumer(NAME),
        Recorder(audit, rt.topics, projections=projections),
    )
    app = rt.app(
        "Smart City Thailand: operator console",
        [
            http.build_router(
                audit,
                replayer,
                keys,
                settings.sse_poll_seconds,
                rt.registry,
                sessions,
                max_streams=settings.sse_max_streams_per_session,
                go_live=settings.go_live,
                projections=projections,
            ),
            web.build_router(
                audit,
                replayer,
                keys,
                sessions,
                settings.jaeger_url,
                settings.go_live,
                projections=projections,
            ),
            workflow.build_router(
                audit,
                lag,
                keys,
                sessions,
                settings.jaeger_url,
                settings.go_live,
                projections=projections,
            ),
        ],
        description="Audit log of every topic, timelines, registry, dead letters.",
        csp=web.CSP,
        headers=web.EXTRA_HEADERS,
    )
    web.install(app)
    return rt, app
