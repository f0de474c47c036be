"""The workflow views of the console: the pipeline, one proposal's stages, the registry map,
consumer lag and trace links, as JSON (for the CLI) and as server-rendered pages."""

import datetime as dt
import re
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from smartcity_th.contracts.agencies import Agency
from smartcity_th.contracts.common import Stage
from smartcity_th.services.common.auth import ApiKeys, KeyAsBearer, KeyInHeader
from smartcity_th.services.common.errors import refusal_response
from smartcity_th.services.console.domain import unknown_proposal
from smartcity_th.services.console.entrypoints.http import not_found, session_cookie, viewer
from smartcity_th.services.console.entrypoints.web import session_dependency, templates
from smartcity_th.services.console.flow import stage_diagram, waterfall
from smartcity_th.services.console.lag import LagMonitor
from smartcity_th.services.console.ports import AuditLog
from smartcity_th.services.console.projection import Projections
from smartcity_th.services.console.responses import (
    LagRow,
    Pipeline,
    PipelineLane,
    StageDiagram,
    TraceLink,
)
from smartcity_th.services.console.sessions import Session, Sessions
from smartcity_th.services.console.views import SHARDS, displayable, row

TRACE_ID = re.compile(r"[0-9a-f]{32}")
STAGES = frozenset(s.value for s in Stage)
LanePage = Annotated[
    int | None,
    Query(ge=0, lt=SHARDS, description="The page, from 0"),
]


def trace_url(jaeger_url: str, trace_id: str) -> str:
    return f"{jaeger_url.rstrip('/')}/trace/{trace_id}"


def traces_of(rows: list[dict[str, Any]], jaeger_url: str) -> list[dict[str, Any]]:
    """The traces a proposal's events belong to, in order of first appearance, each with the
    events in it (a submission's trace, then one per decision request, and so on)."""
    found: dict[str, dict[str, Any]] = {}
    for r in rows:
        trace_id = r.get("trace_id")
        if not trace_id:
            continue
        t = found.setdefault(
            trace_id,
            {"trace_id": trace_id, "url": trace_url(jaeger_url, trace_id), "events": []},
        )
        if r.get("event_type"):
            t["events"].append(r["event_type"])
    return list(found.values())


def build_router(
    audit: AuditLog,
    lag: LagMonitor,
    keys: ApiKeys,
    sessions: Sessions,
    jaeger_url: str,
    go_live: dt.date | None = None,
    *,
    projections: Projections,
) -> APIRouter:
    """The same access rules as the rest of the console: the API wants an operator's key or
    login, the pages a login (else they send you to /login)."""

    async def current_viewer(
        request: Request,
        _key: KeyInHeader,
        _bearer: KeyAsBearer,
        _session: str | None = session_cookie(sessions.cookie),
    ) -> Agency:
        return await viewer(request, keys, sessions)

    router = APIRouter()
    Viewer = [Depends(current_viewer)]
    FORBIDDEN: dict[int | str, dict[str, Any]] = {
        403: {"description": "The agency may not use the operators' console"}
    }

    current_session = session_dependency(sessions)

    LoggedIn = Annotated[Session, Depends(current_session)]

    def page(name: str, session: Session, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = templates.get_template(name).render(
            user=session.agency, csrf=session.csrf, jaeger_url=jaeger_url, **ctx
        )
        return HTMLResponse(displayable(html), status_code=status)

    async def current_pipeline() -> dict[str, Any]:
        return await projections.pipeline(dt.datetime.now(dt.UTC), go_live)

    async def current_lane(stage: str, page: int | None) -> dict[str, Any]:
        return await projections.lane(stage, page, dt.datetime.now(dt.UTC), go_live)

    # ---- JSON
    @router.get(
        "/api/pipeline",
        dependencies=Viewer,
        responses=FORBIDDEN,
        tags=["console"],
        summary="Proposals per stage, waits, overdue",
        response_model=Pipeline,
    )
    async def api_pipeline() -> JSONResponse:
        return JSONResponse(await current_pipeline())

    @router.get(
        "/api/pipeline/{stage}",
        dependencies=Viewer,
        responses=FORBIDDEN | {404: {"description": "Not a stage"}},
        tags=["console"],
        summary="One page of a stage's proposals, longest wait first (the stage's pages: "
        "`page`, `next_page`, `prev_page`)",
        response_model=PipelineLane,
    )
    async def api_lane(stage: str, page: LanePage = None) -> JSONResponse:
        if stage not in STAGES:
            raise not_found(f"stage {stage[:100]}")
        return JSONResponse(await current_lane(stage, page))

    @router.get(
        "/api/proposals/{proposal_id}/stages",
        dependencies=Viewer,
        responses=FORBIDDEN | {404: {"description": "Nothing recorded about this proposal"}},
        tags=["console"],
        summary="One proposal's stages with decisions and emails",
        response_model=StageDiagram,
    )
    async def api_stages(proposal_id: str) -> JSONResponse:
        entries = await audit.page({"proposal_id": proposal_id}, limit=10_000)
        if not entries:
            return refusal_response(unknown_proposal(proposal_id))
        return JSONResponse(stage_diagram(entries))

    @router.get(
        "/api/proposals/{proposal_id}/traces",
        dependencies=Viewer,
        responses=FORBIDDEN | {404: {"description": "Nothing recorded about this proposal"}},
        tags=["console"],
        summary="The traces of one proposal's events, with their addresses in Jaeger",
        response_model=list[TraceLink],
    )
    async def api_traces(proposal_id: str) -> JSONResponse:
        entries = await audit.page({"proposal_id": proposal_id}, limit=10_000)
        if not entries:
            return refusal_response(unknown_proposal(proposal_id))
        return JSONResponse(traces_of([row(e) for e in entries], jaeger_url))

    @router.get(
        "/api/lag",
        dependencies=Viewer,
        responses=FORBIDDEN,
        tags=["console"],
        summary="Consumer lag per group and partition",
        response_model=list[LagRow],
    )
    async def api_lag() -> JSONResponse:
        return JSONResponse(await lag.refresh())

    # ---- pages
    @router.get("/traces/{trace_id}", include_in_schema=False)
    async def trace_page(session: LoggedIn, trace_id: str) -> HTMLResponse:
        """One trace, read from Jaeger's query API and drawn as a waterfall (the local Jaeger,
        built from the Go module, has the API but no web UI)."""
        if not TRACE_ID.fullmatch(trace_id):
            return page("message.html", session, 400, title="Trace", message="not a trace id")
        try:
            async with httpx.AsyncClient(base_url=jaeger_url, timeout=10) as http:
                resp = await http.get(f"/api/traces/{trace_id}")
        except httpx.HTTPError as exc:
            message = f"Jaeger is unreachable at {jaeger_url} ({type(exc).__name__})"
            return page("message.html", session, 502, title="Trace", message=message)
        data = resp.json().get("data") if resp.status_code == 200 else None
        if not data:
            message = f"Jaeger has no trace {trace_id} / ไม่พบ trace นี้"
            return page("message.html", session, 404, title="Trace", message=message)
        return page(
            "trace.html",
            session,
            w=waterfall(data[0]),
            jaeger_trace_url=trace_url(jaeger_url, trace_id),
            nav="events",
        )

    @router.get("/pipeline", include_in_schema=False)
    async def pipeline_page(session: LoggedIn) -> HTMLResponse:
        return page("pipeline.html", session, p=await current_pipeline(), nav="pipeline")

    @router.get("/pipeline/{stage}", include_in_schema=False)
    async def lane_page(
        session: LoggedIn,
        stage: str,
        page_no: Annotated[int | None, Query(alias="page", ge=0, lt=SHARDS)] = None,
    ) -> HTMLResponse:
        if stage not in STAGES:
            return page("message.html", session, 404, title="Pipeline", message="not a stage")
        lane = await current_lane(stage, page_no)
        return page("lane.html", session, lane=lane, nav="pipeline")

    return router
