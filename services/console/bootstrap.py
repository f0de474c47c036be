"""Wires the console service: one place where every dependency is built."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.auth import ApiKeys
from services.common.runtime import Runtime
from services.console.audit import MongoAuditLog
from services.console.config import ConsoleSettings
from services.console.entrypoints import http, kafka, web, workflow
from services.console.handlers import Recorder, Replayer
from services.console.lag import LagMonitor
from services.console.sessions import Sessions

NAME = "console"


def build(settings: ConsoleSettings) -> tuple[Runtime, FastAPI]:
    rt = Runtime(NAME, settings, settings.mongo_db)
    audit = MongoAuditLog(rt.db)
    keys = ApiKeys(rt.db)
    sessions = Sessions(rt.db, settings.session_hours)

    async def publish(value: bytes, topic: str, key: bytes | None, headers: dict[str, str]) -> None:
        await rt.broker.publish(value, topic, key=key, headers=headers)

    async def repair() -> None:
        await audit.repair()

    rt.on_start += [audit.ensure_indexes, repair, sessions.load_secret]
    lag = LagMonitor(settings.kafka_bootstrap, list(rt.topics.all()), settings.lag_seconds)
    rt.background.append(lag.run)
    replayer = Replayer(audit, publish)
    kafka.register(rt.broker, rt.topics, settings.consumer_group, Recorder(audit, rt.topics))
    app = rt.app(
        "Smart City Thailand: operator console",
        [
            http.build_router(audit, replayer, keys, settings.sse_poll_seconds),
            web.build_router(audit, replayer, keys, sessions, settings.jaeger_url),
            workflow.build_router(audit, lag, sessions, settings.jaeger_url),
        ],
        description="Audit log of every topic, timelines, registry, dead letters.",
    )
    return rt, app
