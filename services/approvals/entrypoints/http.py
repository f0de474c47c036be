"""HTTP API of the approvals service."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.encoders import jsonable_encoder

from contracts.agencies import Agency
from services.approvals.adapters.repository import MongoCaseRepository
from services.common.auth import ApiKeys, authenticate


def build_router(repo: MongoCaseRepository, keys: ApiKeys) -> APIRouter:
    router = APIRouter(tags=["cases"])

    async def current_agency(request: Request) -> Agency:
        return await authenticate(request, keys)

    Caller = Annotated[Agency, Depends(current_agency)]

    @router.get("/cases/{proposal_id}", summary="A workflow case with its full history")
    async def get_case(proposal_id: str, caller: Caller) -> Any:
        doc = await repo.get_document(proposal_id)
        if doc is None or (caller.kind.is_applicant and doc["applicant"] != caller.agency_id):
            raise HTTPException(404, detail={"error": f"no case for proposal {proposal_id}",
                                             "error_th": f"ไม่พบเรื่องของข้อเสนอ {proposal_id}"})
        doc["proposal_id"] = doc.pop("_id")
        return jsonable_encoder(doc)

    return router
