"""Wires the proposals service: one place where every dependency is built."""

from __future__ import annotations

from fastapi import FastAPI

from smartcity_th.contracts.catalogue import owned_by
from smartcity_th.services.common.auth import ApiKeys
from smartcity_th.services.common.runtime import Runtime
from smartcity_th.services.common.store import EVENTS_PUBLISHED, OUTBOX_OLDEST_AGE, OUTBOX_PENDING
from smartcity_th.services.proposals.adapters.repository import MongoProposalRepository
from smartcity_th.services.proposals.config import ProposalsSettings
from smartcity_th.services.proposals.entrypoints import http, kafka
from smartcity_th.services.proposals.handlers import (
    DecisionFacts,
    IntakeClaims,
    ProposalHandlers,
    RejectionLog,
)

NAME = "proposals"


def build(settings: ProposalsSettings) -> tuple[Runtime, FastAPI]:
    rt = Runtime(NAME, settings, settings.mongo_db)
    repo = MongoProposalRepository(rt.db, rt.publisher)
    handlers = ProposalHandlers(repo)
    rejections = RejectionLog(rt.store("intake_rejections"), handlers.clock)
    keys = ApiKeys(rt.db, rt.registry)
    rt.stores.append(repo.store)
    rt.on_start.append(repo.ensure_indexes)
    claims = IntakeClaims(handlers, rejections, rt.registry.agency)
    kafka.register(
        rt.broker,
        rt.topics,
        settings.consumer_group,
        rt.consumer(NAME),
        claims,
        claims.refuse_invalid,
        DecisionFacts(handlers, rt.registry.agency),
        rt.claim_gate,
    )
    app = rt.app(
        "Smart City Thailand: proposals",
        [http.build_router(handlers, repo, keys)],
        description="Submit and follow smart-city development plans.",
    )
    for event_type in sorted(owned_by(NAME)):
        EVENTS_PUBLISHED.labels(NAME, event_type)
    OUTBOX_PENDING.labels(NAME).set(0)
    OUTBOX_OLDEST_AGE.labels(NAME).set(0)
    return rt, app
