"""Wires the approvals service: one place where every dependency is built."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI
from prometheus_client import Gauge

from smartcity_th.contracts.common import Stage
from smartcity_th.services.approvals.adapters.repository import MongoCaseRepository
from smartcity_th.services.approvals.config import ApprovalsSettings
from smartcity_th.services.approvals.domain import Rules
from smartcity_th.services.approvals.entrypoints import certificates, http, kafka
from smartcity_th.services.approvals.handlers import CaseHandlers, Clock, utc_now
from smartcity_th.services.common.auth import ApiKeys
from smartcity_th.services.common.runtime import Runtime
from smartcity_th.services.common.service_key import registered_state

NAME = "approvals"
log = structlog.get_logger(__name__)

CASES_BY_STAGE = Gauge("smartcity_approvals_cases", "Workflow cases by stage (periodic)", ["stage"])


def every(
    seconds: float, job: Callable[[], Awaitable[object]], name: str
) -> Callable[[], Awaitable[None]]:
    async def loop() -> None:
        while True:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(f"{name}.failed", error=repr(exc))
            await asyncio.sleep(seconds)

    return loop


def on_change(
    seconds: float, job: Callable[[], Awaitable[object]], changed: asyncio.Event, name: str
) -> Callable[[], Awaitable[None]]:
    """Run `job` at start, then when `changed` is set, at most once every `seconds`, and every
    `10 * seconds` as a backstop (changes another instance made): an idle service runs it
    rarely (counting cases by stage reads every case on FerretDB)."""

    async def loop() -> None:
        while True:
            changed.clear()
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(f"{name}.failed", error=repr(exc))
            await asyncio.sleep(seconds)  # at most one run per interval while busy
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 9 * seconds)

    return loop


def build(settings: ApprovalsSettings, clock: Clock = utc_now) -> tuple[Runtime, FastAPI]:
    rt = Runtime(NAME, settings, settings.mongo_db)
    repo = MongoCaseRepository(rt.db, rt.publisher)
    rules = Rules(
        delivery_years=settings.delivery_years,
        renewal_min_progress_percent=settings.renewal_min_progress_percent,
        go_live=settings.go_live,
    )
    signer = rt.signer
    handlers = CaseHandlers(repo, clock, rules, rt.registry.agency, signer)
    rt.stores += repo.stores
    rt.on_start.append(repo.ensure_indexes)

    async def report_signing_key() -> None:
        state = registered_state(signer, rt.registry.state)
        if state == "current":
            log.info("approvals.signing_key", key_id=signer.key_id if signer else None)
            return
        log.warning(
            "approvals.signing_key",
            state=state,
            key_id=signer.key_id if signer else None,
            consequence="certificates are awarded unsigned"
            if signer is None
            else "certificates are signed, but their signature does not check until the key "
            "is registered and current for svc-approvals",
        )

    rt.on_start.append(report_signing_key)

    async def refresh_stage_gauge() -> None:
        counts = await repo.count_by_stage()
        for stage in Stage:
            CASES_BY_STAGE.labels(stage.value).set(counts.get(stage.value, 0))

    rt.background.append(
        on_change(
            settings.stage_gauge_seconds, refresh_stage_gauge, handlers.cases_changed, "stage_gauge"
        )
    )
    rt.background.append(
        every(settings.deadline_scan_seconds, handlers.scan_deadlines, "deadline_scan")
    )
    kafka.register(
        rt.broker,
        rt.topics,
        settings.consumer_group,
        rt.consumer(NAME),
        handlers.on_proposal_fact,
        handlers.on_intake,
        rt.claim_gate,
    )
    app = rt.app(
        "Smart City Thailand: approvals",
        [
            http.build_router(repo, ApiKeys(rt.db, rt.registry), handlers),
            certificates.build_router(
                repo,
                handlers,
                lambda: rt.registry.state.signing_keys,
                settings.certificate_base_url,
            ),
        ],
        description="Record screening, committee and Cabinet decisions; the registry.",
    )
    return rt, app
