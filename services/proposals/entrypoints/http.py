"""HTTP API for applicants: routes parse, authenticate and call the handlers; nothing else."""


import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from contracts.agencies import Agency
from contracts.proposals import ProposalDraft
from services.common.auth import ApiKeys, authenticate
from services.proposals.adapters.repository import MongoProposalRepository
from services.proposals.domain import IntakeError, content_from_draft
from services.proposals.handlers import ProposalHandlers, SubmitProposal


def intake_error_response(exc: IntakeError) -> JSONResponse:
    return JSONResponse(status_code=exc.status, content={
        "error": exc.reason.en, "error_th": exc.reason.th,
        "errors": [e.model_dump() for e in exc.errors],
    })


def view(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in {"_id", "outbox", "processed"}}
    out["proposal_id"] = doc["_id"]
    return out


def build_router(handlers: ProposalHandlers, repo: MongoProposalRepository,
                 keys: ApiKeys) -> APIRouter:
    router = APIRouter(prefix="/proposals", tags=["proposals"])

    async def current_agency(request: Request) -> Agency:
        return await authenticate(request, keys)

    Caller = Annotated[Agency, Depends(current_agency)]

    @router.post("", status_code=201, summary="Submit a smart-city development plan",
                 responses={200: {"description": "A retry with the same Idempotency-Key: the "
                                                 "original proposal"},
                            403: {"description": "The agency may not submit this proposal"},
                            422: {"description": "Field-precise validation errors"}})
    async def submit(
        draft: ProposalDraft,
        caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> JSONResponse:
        try:
            content = content_from_draft(draft)
            result = await handlers.submit(SubmitProposal(
                applicant=caller, content=content,
                idempotency_key=idempotency_key or str(uuid.uuid4())))
        except IntakeError as exc:
            return intake_error_response(exc)
        doc = await repo.get_document(result.proposal.proposal_id)
        assert doc is not None
        return JSONResponse(status_code=201 if result.created else 200,
                            content=_jsonable(view(doc)))

    @router.get("/{proposal_id}", summary="One proposal with its revision history")
    async def get_one(proposal_id: str, caller: Caller) -> JSONResponse:
        doc = await repo.get_document(proposal_id)
        if doc is None or (caller.kind.is_applicant and doc["applicant"] != caller.agency_id):
            raise HTTPException(404, detail={"error": f"no proposal {proposal_id}",
                                             "error_th": f"ไม่พบข้อเสนอ {proposal_id}"})
        return JSONResponse(_jsonable(view(doc)))

    return router


def _jsonable(value: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(value)
