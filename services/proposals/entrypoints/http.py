"""HTTP API for applicants and the agencies that follow proposals: routes parse, authenticate
and call the handlers; nothing else. Every refusal has the `ErrorResponse` shape."""

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from smartcity_th.contracts.agencies import Agency
from smartcity_th.contracts.authorisation import may_read, sees_only_own
from smartcity_th.contracts.common import Stage, as_words
from smartcity_th.contracts.proposals import (
    ErrorResponse,
    ProposalDraft,
    ProposalPage,
    ProposalView,
    RevisionDraft,
    WithdrawalRequest,
)
from smartcity_th.contracts.refusal import RefusalKind, Refused, field_error, refusal
from smartcity_th.services.common.auth import ApiKeys, agency_dependency
from smartcity_th.services.proposals.adapters.repository import (
    BadCursor,
    ListFilter,
    MongoProposalRepository,
)
from smartcity_th.services.proposals.domain import (
    content_from_draft,
    no_such_proposal,
    resolve_province,
)
from smartcity_th.services.proposals.handlers import (
    ProposalHandlers,
    ResubmitProposal,
    SubmitProposal,
    WithdrawProposal,
)

MAX_PAGE = 100
ProposalPath = Annotated[str, Path(max_length=64, description="The proposal's id")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=200,
        description="Makes a retry return the original result instead of acting "
        "twice (any unique string, e.g. a UUID)",
    ),
]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key"},
    403: {"model": ErrorResponse, "description": "The agency may not do this"},
    404: {"model": ErrorResponse, "description": "No such proposal (or not the caller's)"},
    409: {"model": ErrorResponse, "description": "Not allowed at the proposal's status"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
    422: {"model": ErrorResponse, "description": "Field-precise validation errors"},
}


def view(doc: dict[str, Any]) -> ProposalView:
    return ProposalView(
        proposal_id=doc["_id"],
        applicant=doc["applicant"],
        province_code=doc["province_code"],
        status=Stage(doc["status"]),
        revision=doc["revision"],
        content=doc["content"],
        revisions=[{**r, "changes": as_words(r.get("changes"))} for r in doc.get("revisions", [])],
        revision_requests=doc.get("revision_requests", []),
        withdrawal_reason=as_words(doc.get("withdrawal_reason")),
        submitted_at=doc["submitted_at"],
        updated_at=doc.get("updated_at") or doc["submitted_at"],
        version=doc.get("version", 1),
    )


def respond(model: Any, status: int = 200, *, replayed: bool = False) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(status_code=status, content=jsonable_encoder(model), headers=headers)


def _forbidden_to_list(caller: Agency, applicant: str) -> Refused:
    return Refused(
        refusal(
            RefusalKind.UNAUTHORISED,
            f"{caller.agency_id} may list only its own proposals, not {applicant}'s",
            f"{caller.agency_id} ดูได้เฉพาะข้อเสนอของตนเอง ไม่ใช่ของ {applicant}",
        )
    )


def _bad(field: str, en: str, th: str) -> Refused:
    return Refused(
        refusal(
            RefusalKind.VALIDATION,
            f"invalid {field}",
            f"{field} ไม่ถูกต้อง",
            (field_error(field, en, th),),
        )
    )


def build_router(
    handlers: ProposalHandlers, repo: MongoProposalRepository, keys: ApiKeys
) -> APIRouter:
    router = APIRouter(prefix="/proposals", tags=["proposals"], responses=ERRORS)

    current_agency = agency_dependency(keys)

    Caller = Annotated[Agency, Depends(current_agency)]

    async def visible(proposal_id: str, caller: Agency) -> dict[str, Any]:
        doc = await repo.get_document(proposal_id)
        if doc is None or not may_read(caller.kind, caller.agency_id, doc["applicant"]):
            raise Refused(no_such_proposal(proposal_id))
        return doc

    async def reply(proposal_id: str, created: bool, status: int) -> JSONResponse:
        doc = await repo.get_document(proposal_id)
        if doc is None:
            raise Refused(no_such_proposal(proposal_id))
        return respond(view(doc), status if created else 200, replayed=not created)

    @router.post(
        "",
        status_code=201,
        response_model=ProposalView,
        summary="Submit a smart-city development plan",
        responses={
            200: {
                "model": ProposalView,
                "description": "A retry with the same Idempotency-Key: the original proposal",
            }
        },
    )
    async def submit(
        draft: ProposalDraft, caller: Caller, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        result = await handlers.submit(
            SubmitProposal(
                applicant=caller,
                content=content_from_draft(draft),
                idempotency_key=idempotency_key or str(uuid.uuid4()),
                effective_on=draft.received_on,
            )
        )
        return await reply(result.proposal.proposal_id, result.created, 201)

    @router.post(
        "/{proposal_id}/revisions",
        response_model=ProposalView,
        summary="Resubmit the plan after depa requested a revision",
    )
    async def resubmit(
        proposal_id: ProposalPath,
        draft: RevisionDraft,
        caller: Caller,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        content = content_from_draft(
            ProposalDraft.model_validate(draft.model_dump(exclude={"changes", "received_on"}))
        )
        result = await handlers.resubmit(
            ResubmitProposal(
                actor=caller,
                proposal_id=proposal_id,
                content=content,
                changes=draft.changes,
                command_key=f"http:resubmit:{idempotency_key}" if idempotency_key else None,
                effective_on=draft.received_on,
            )
        )
        return await reply(proposal_id, result.created, 200)

    @router.post(
        "/{proposal_id}/withdrawal",
        response_model=ProposalView,
        summary="Withdraw the proposal (any time before certification)",
    )
    async def withdraw(
        proposal_id: ProposalPath,
        caller: Caller,
        body: WithdrawalRequest | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        result = await handlers.withdraw(
            WithdrawProposal(
                actor=caller,
                proposal_id=proposal_id,
                reason=body.reason if body else None,
                command_key=f"http:withdraw:{idempotency_key}" if idempotency_key else None,
            )
        )
        return await reply(proposal_id, result.created, 200)

    @router.get(
        "/{proposal_id}",
        response_model=ProposalView,
        summary="One proposal with its revision history",
    )
    async def get_one(proposal_id: ProposalPath, caller: Caller) -> JSONResponse:
        return respond(view(await visible(proposal_id, caller)))

    @router.get(
        "",
        response_model=ProposalPage,
        summary="List proposals, newest first (applicants see only their own)",
    )
    async def list_proposals(
        caller: Caller,
        province: Annotated[str | None, Query(max_length=100, description="Code or name")] = None,
        status: Annotated[Stage | None, Query(description="Status (stage)")] = None,
        stage: Annotated[Stage | None, Query(description="Alias of status")] = None,
        applicant: Annotated[str | None, Query(max_length=64)] = None,
        submitted_from: Annotated[
            dt.datetime | None,
            Query(description="Submitted at or after (ISO 8601 with a timezone)"),
        ] = None,
        submitted_to: Annotated[
            dt.datetime | None, Query(description="Submitted before (ISO 8601 with a timezone)")
        ] = None,
        cursor: Annotated[
            str | None, Query(max_length=500, description="next_cursor of the previous page")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    ) -> JSONResponse:
        if sees_only_own(caller.kind):
            if applicant is not None and applicant != caller.agency_id:
                raise _forbidden_to_list(caller, applicant)
            applicant = caller.agency_id
        for name, value in (("submitted_from", submitted_from), ("submitted_to", submitted_to)):
            if value is not None and value.tzinfo is None:
                raise _bad(
                    name,
                    "must include a timezone, e.g. 2026-01-01T00:00:00+07:00",
                    "ต้องระบุเขตเวลา เช่น 2026-01-01T00:00:00+07:00",
                )
        wanted = status or stage
        where = ListFilter(
            applicant=applicant,
            province_code=resolve_province(province).code if province else None,
            status=wanted.value if wanted else None,
            submitted_from=submitted_from,
            submitted_to=submitted_to,
        )
        try:
            docs, next_cursor = await repo.list(where, limit=limit, cursor=cursor)
        except BadCursor:
            raise _bad(
                "cursor", "not a cursor this API returned", "ไม่ใช่ cursor ที่ API นี้ส่งให้"
            ) from None
        return respond(ProposalPage(items=[view(d) for d in docs], next_cursor=next_cursor))

    return router
