"""HTTP API of the notifications service: the delivery log."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder

from contracts.agencies import Agency
from services.common.auth import ApiKeys, authenticate
from services.notifications.adapters.store import DeliveryLog


def build_router(deliveries: DeliveryLog, keys: ApiKeys) -> APIRouter:
    router = APIRouter(tags=["deliveries"])

    async def current_agency(request: Request) -> Agency:
        return await authenticate(request, keys)

    Caller = Annotated[Agency, Depends(current_agency)]

    @router.get("/deliveries", summary="The delivery log, newest first")
    async def list_deliveries(
        _caller: Caller,
        proposal_id: str | None = None,
        status: str | None = Query(None, pattern="^(queued|sent|failed)$"),
        limit: int = Query(100, ge=1, le=1000),
    ) -> Any:
        query: dict[str, Any] = {}
        if proposal_id:
            query["proposal_id"] = proposal_id
        if status:
            query["status"] = status
        cursor = deliveries.collection.find(
            query, {"outbox": 0, "html": 0, "text": 0, "event_value": 0}
        ).sort("created_at", -1).limit(limit)
        return jsonable_encoder(await cursor.to_list(None))

    return router
