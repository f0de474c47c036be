"""Wires the approvals service: one place where every dependency is built."""

from __future__ import annotations

from fastapi import FastAPI

from services.approvals.adapters.repository import MongoCaseRepository
from services.approvals.config import ApprovalsSettings
from services.approvals.entrypoints import http, kafka
from services.approvals.handlers import CaseHandlers
from services.common.auth import ApiKeys
from services.common.runtime import Runtime

NAME = "approvals"


def build(settings: ApprovalsSettings) -> tuple[Runtime, FastAPI]:
    rt = Runtime(NAME, settings, settings.mongo_db)
    repo = MongoCaseRepository(rt.db)
    handlers = CaseHandlers(repo, rt.publisher)
    rt.outbox_collections += [repo.collection, repo.orphans]
    rt.on_start.append(repo.ensure_indexes)
    kafka.register(rt.broker, rt.topics, settings.consumer_group, rt.consumer(NAME),
                   handlers.on_proposal_fact)
    app = rt.app("Smart City Thailand: approvals", [http.build_router(repo, ApiKeys(rt.db))],
                 description="Record screening, committee and Cabinet decisions; the registry.")
    return rt, app
