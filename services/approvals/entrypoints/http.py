"""HTTP API of the approvals service: routes authenticate, turn the request into the same claim
an agency system would produce on the intake topic, and hand it to the one handler."""

import datetime as dt
import uuid
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import Field

from smartcity_th.contracts.agencies import Agency
from smartcity_th.contracts.approvals import (
    AwardCertification,
    CabinetEndorsed,
    CabinetReturned,
    CertificationLapsed,
    CertificationRenewed,
    DeliveryAcknowledged,
    DeliveryReported,
    DeliveryReturned,
    MeetingRecorded,
    ProposalScreened,
    RevisionRequested,
    SteeringCommitteeAcknowledged,
    SubcommitteeApproved,
    SubcommitteeRejected,
)
from smartcity_th.contracts.authorisation import may_administer, may_read, sees_only_own
from smartcity_th.contracts.common import ProposalId, Stage
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.reference import provinces
from smartcity_th.contracts.refusal import RefusalKind
from smartcity_th.services.approvals.adapters.repository import MongoCaseRepository
from smartcity_th.services.approvals.domain import certificate_status, scan_as_of
from smartcity_th.services.approvals.handlers import CaseHandlers
from smartcity_th.services.common.auth import ApiKeys, agency_dependency
from smartcity_th.services.common.errors import HTTPRefusal, refusal_response

DecisionRequest = Annotated[
    ProposalScreened
    | RevisionRequested
    | SubcommitteeApproved
    | SubcommitteeRejected
    | SteeringCommitteeAcknowledged
    | CabinetEndorsed
    | CabinetReturned
    | AwardCertification
    | DeliveryReported
    | DeliveryAcknowledged
    | DeliveryReturned
    | CertificationRenewed
    | CertificationLapsed,
    Field(discriminator="event_type"),
]


def _claim(
    caller: Agency, proposal_id: str, payload: Any, idempotency_key: str | None
) -> AnyEnvelope:
    event_id = (
        uuid.uuid5(uuid.NAMESPACE_URL, f"http:{caller.agency_id}:{idempotency_key}")
        if idempotency_key
        else uuid.uuid4()
    )
    return new_envelope(
        payload,
        producer=caller.agency_id,
        proposal_id=proposal_id,
        correlation_id=event_id,
        event_id=event_id,
        event_type=payload.event_type,
    )


def _registry_entry(doc: dict[str, Any], as_of: dt.date, go_live: dt.date | None) -> dict[str, Any]:
    names = {p.code: p for p in provinces()}
    province = names.get(doc["province_code"])
    cert = doc.get("certificate") or {}
    view = certificate_status(
        doc.get("history") or [], cert, doc["area_name"], doc["province_code"], as_of, go_live
    )
    return {
        "proposal_id": doc["_id"],
        "applicant": doc["applicant"],
        "area_name": doc["area_name"],
        "province_code": doc["province_code"],
        "province_th": province.name_th if province else None,
        "province_en": province.name_en if province else None,
        "subcommittee_meeting_id": doc.get("subcommittee_meeting_id"),
        **cert,
        **(view or {}),
        "as_of": as_of.isoformat(),
    }


async def _own_decisions_only(
    repo: MongoCaseRepository, caller: Agency, meetings: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """An applicant sees only the meetings that decided on its own proposals, and in them only
    those decisions (other agencies' proposals are not its business)."""
    owners: dict[str, str | None] = {}
    out = []
    for meeting in meetings:
        mine = []
        for decision in meeting.get("decisions", []):
            pid = decision.get("proposal_id")
            if pid not in owners:
                case = await repo.get_document(pid) if isinstance(pid, str) else None
                owners[pid] = None if case is None else case.get("applicant")
            if may_read(caller.kind, caller.agency_id, owners[pid]):
                mine.append(decision)
        if mine:
            out.append({**meeting, "decisions": mine})
    return out


def build_router(repo: MongoCaseRepository, keys: ApiKeys, handlers: CaseHandlers) -> APIRouter:
    router = APIRouter()

    current_agency = agency_dependency(keys)

    Caller = Annotated[Agency, Depends(current_agency)]
    IdempotencyKey = Annotated[str | None, Header(max_length=200)]

    @router.post(
        "/cases/{proposal_id}/decisions",
        tags=["decisions"],
        summary="Record one decision on one proposal",
        status_code=201,
        responses={
            200: {"description": "Already recorded (same Idempotency-Key)"},
            403: {"description": "This agency may not take this decision"},
            404: {"description": "No such proposal"},
            409: {"description": "The decision does not fit the stage"},
        },
    )
    async def record_decision(
        proposal_id: ProposalId,
        caller: Caller,
        decision: Annotated[DecisionRequest, Body()],
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        [result] = await handlers.handle_claim(
            _claim(caller, proposal_id, decision, idempotency_key)
        )
        if result.refusal is not None:
            return refusal_response(result.refusal, **result.as_dict())
        status = 201 if result.outcome == "applied" else 200
        return JSONResponse(status_code=status, content=result.as_dict())

    @router.post(
        "/meetings",
        tags=["decisions"],
        summary="Record a meeting with its decisions on N proposals",
        responses={403: {"description": "This agency may not record this meeting"}},
    )
    async def record_meeting(
        meeting: MeetingRecorded, caller: Caller, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        results = await handlers.handle_claim(
            _claim(caller, meeting.decisions[0].proposal_id, meeting, idempotency_key)
        )
        counts = Counter(r.outcome for r in results)
        body = {
            "meeting_id": meeting.meeting.meeting_id,
            "body": meeting.body,
            "counts": dict(counts),
            "results": [r.as_dict() for r in results],
        }
        unauthorised = [r for r in results if r.kind is RefusalKind.UNAUTHORISED]
        if unauthorised:
            assert unauthorised[0].refusal is not None
            return refusal_response(unauthorised[0].refusal, **body)
        return JSONResponse(status_code=200, content=body)

    @router.get("/meetings", tags=["decisions"], summary="Recorded meetings")
    async def list_meetings(
        caller: Caller, meeting_id: str | None = None, body: str | None = None
    ) -> Any:
        query: dict[str, Any] = {}
        if meeting_id:
            query["meeting_id"] = meeting_id
        if body:
            query["body"] = body
        docs = await repo.meetings_matching(query)
        if sees_only_own(caller.kind):
            docs = await _own_decisions_only(repo, caller, docs)
        return jsonable_encoder(
            [{**{k: v for k, v in d.items() if k != "_id"}, "key": d["_id"]} for d in docs]
        )

    @router.get("/cases", tags=["cases"], summary="Cases, optionally at one stage")
    async def list_cases(
        caller: Caller,
        stage: Stage | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> Any:
        own = caller.agency_id if sees_only_own(caller.kind) else None
        docs = await repo.by_stage(stage, limit, applicant=own)
        for d in docs:
            d["proposal_id"] = d.pop("_id")
        return jsonable_encoder(docs)

    @router.get(
        "/cases/{proposal_id}",
        tags=["cases"],
        summary="A workflow case with its full history",
        responses={404: {"description": "No such case (or not the caller's)"}},
    )
    async def get_case(proposal_id: str, caller: Caller) -> Any:
        doc = await repo.get_document(proposal_id)
        if doc is None or not may_read(caller.kind, caller.agency_id, doc["applicant"]):
            raise HTTPRefusal(
                404, f"no case for proposal {proposal_id}", f"ไม่พบเรื่องของข้อเสนอ {proposal_id}"
            )
        doc["proposal_id"] = doc.pop("_id")
        return jsonable_encoder(doc)

    @router.get("/registry", tags=["registry"], summary="Certified areas (public)")
    async def registry(province: str | None = None, meeting: str | None = None) -> Any:
        query: dict[str, Any] = {}
        if province:
            query["province_code"] = province
        if meeting:
            query["subcommittee_meeting_id"] = meeting
        today = handlers.clock().date()
        docs = await repo.certified(query)
        return jsonable_encoder([_registry_entry(d, today, handlers.rules.go_live) for d in docs])

    @router.get(
        "/registry/summary",
        tags=["registry"],
        summary="Counts of certified areas and provinces, by province and by meeting",
    )
    async def registry_summary() -> Any:
        today = handlers.clock().date()
        docs = await repo.certified({})
        entries = [_registry_entry(d, today, handlers.rules.go_live) for d in docs]
        by_province = Counter(e["province_code"] for e in entries)
        by_meeting = Counter(e["subcommittee_meeting_id"] or "unknown" for e in entries)
        by_status = Counter(e.get("status") or "unknown" for e in entries)
        return {
            "areas": len(entries),
            "provinces": len(by_province),
            "by_province": dict(sorted(by_province.items())),
            "by_meeting": dict(sorted(by_meeting.items())),
            "by_status": dict(sorted(by_status.items())),
            "as_of": today.isoformat(),
        }

    @router.post(
        "/admin/deadline-scan",
        tags=["operations"],
        summary="Run the delivery-deadline scan now, optionally as of a given date",
        responses={403: {"description": "depa only"}},
    )
    async def deadline_scan(caller: Caller, as_of: dt.date | None = None) -> Any:
        if not may_administer(caller.kind):
            raise HTTPRefusal(
                403,
                f"{caller.agency_id} may not run the deadline scan (depa only)",
                f"หน่วยงาน {caller.agency_id} ไม่มีสิทธิ์สั่งตรวจกำหนดส่งมอบ",
            )
        today = handlers.clock().date()
        if as_of is not None and as_of > today:
            raise HTTPRefusal(
                422,
                f"as_of {as_of.isoformat()} is in the future (today is "
                f"{today.isoformat()}): reminders are sent for what is due, never ahead",
                f"วันที่ {as_of.isoformat()} ยังมาไม่ถึง",
                errors=[
                    {
                        "field": "query.as_of",
                        "message": {"en": "must not be in the future", "th": "ต้องไม่เกินวันนี้"},
                    }
                ],
            )
        day = scan_as_of(as_of, today)
        emitted = await handlers.scan_deadlines(day)
        go_live = handlers.rules.go_live
        return {
            "as_of": day.isoformat(),
            "go_live": go_live.isoformat() if go_live else None,
            "emitted": emitted,
        }

    return router
