"""HTTP API of the notifications service: the delivery log, the recipients directory (admin)
and a "send the digests now" trigger (admin)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from smartcity_th.contracts.agencies import Agency
from smartcity_th.contracts.authorisation import may_administer
from smartcity_th.contracts.refusal import Refused
from smartcity_th.services.common.auth import ApiKeys, agency_dependency
from smartcity_th.services.notifications import refusals
from smartcity_th.services.notifications.adapters.directory import (
    RecipientChange,
    RecipientIn,
    RecipientsDirectory,
)
from smartcity_th.services.notifications.digest import DigestScheduler
from smartcity_th.services.notifications.handlers import NotificationHandlers
from smartcity_th.services.notifications.ports import DeliveryLog, Listing


class DigestPreference(BaseModel):
    digest: bool = Field(description="True: one daily summary; false: one email per event")


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k != "_id"}
    encoded: dict[str, Any] = jsonable_encoder({"recipient_id": doc["_id"], **out})
    return encoded


ADMIN_ONLY: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only depa or a system agency administers the directory"}
}
NO_RECIPIENT: dict[int | str, dict[str, Any]] = {404: {"description": "No such recipient"}}


class Released(BaseModel):
    delivery_id: str = Field(description="The letter released")
    released: bool = Field(description="Always true: it passed proofreading and is queued")


def build_router(
    deliveries: DeliveryLog,
    keys: ApiKeys,
    directory: RecipientsDirectory,
    digests: DigestScheduler,
    handlers: NotificationHandlers,
) -> APIRouter:
    router = APIRouter()

    current_agency = agency_dependency(keys)

    async def admin(request: Request, caller: Annotated[Agency, Depends(current_agency)]) -> Agency:
        if not may_administer(caller.kind):
            await keys.record_refusal(request, "forbidden")
            raise Refused(refusals.not_administrator(caller.agency_id))
        return caller

    Caller = Annotated[Agency, Depends(current_agency)]
    Admin = Annotated[Agency, Depends(admin)]

    @router.get(
        "/deliveries",
        tags=["deliveries"],
        summary="The delivery log, newest first (an agency that is not depa or a "
        "system sees only the emails addressed to it)",
    )
    async def list_deliveries(
        caller: Caller,
        proposal_id: str | None = None,
        status: str | None = Query(None, pattern="^(queued|sent|failed|held|digested)$"),
        limit: int = Query(100, ge=1, le=1000),
    ) -> Any:
        listed = await deliveries.listing(
            Listing(
                recipient_id=None if may_administer(caller.kind) else caller.agency_id,
                proposal_id=proposal_id,
                status=status,
                limit=limit,
            )
        )
        return jsonable_encoder(listed)

    @router.get(
        "/recipients",
        tags=["recipients"],
        summary="The recipients directory",
        responses=ADMIN_ONLY,
    )
    async def list_recipients(_admin: Admin, prefix: str | None = None) -> Any:
        return [_public(d) for d in await directory.list(prefix)]

    @router.get(
        "/recipients/{recipient_id}",
        tags=["recipients"],
        summary="One recipient",
        responses=ADMIN_ONLY | NO_RECIPIENT,
    )
    async def get_recipient(recipient_id: str, _admin: Admin) -> Any:
        doc = await directory.find(recipient_id)
        if doc is None:
            raise Refused(refusals.no_recipient(recipient_id))
        return _public(doc)

    @router.post(
        "/recipients",
        tags=["recipients"],
        status_code=201,
        summary="Add a recipient",
        responses=ADMIN_ONLY | {409: {"description": "The recipient exists already"}},
    )
    async def create_recipient(entry: RecipientIn, caller: Admin) -> Any:
        doc = await directory.create(entry, caller.agency_id)
        if doc is None:
            raise Refused(refusals.recipient_exists(entry.recipient_id))
        return _public(doc)

    @router.patch(
        "/recipients/{recipient_id}",
        tags=["recipients"],
        summary="Change a recipient's address, names or digest preference",
        responses=ADMIN_ONLY | NO_RECIPIENT,
    )
    async def update_recipient(recipient_id: str, change: RecipientChange, caller: Admin) -> Any:
        doc = await directory.update(recipient_id, change, caller.agency_id)
        if doc is None:
            raise Refused(refusals.no_recipient(recipient_id))
        return _public(doc)

    @router.put(
        "/recipients/{recipient_id}/digest",
        tags=["recipients"],
        summary="Choose a daily digest (true) or one email per event (false)",
        responses=ADMIN_ONLY | NO_RECIPIENT,
    )
    async def set_digest(recipient_id: str, pref: DigestPreference, caller: Admin) -> Any:
        doc = await directory.update(
            recipient_id, RecipientChange(digest=pref.digest), caller.agency_id
        )
        if doc is None:
            raise Refused(refusals.no_recipient(recipient_id))
        return _public(doc)

    @router.post(
        "/digests/run",
        tags=["recipients"],
        summary="Send the digests now (as of the current time)",
        responses=ADMIN_ONLY,
    )
    async def run_digests(_admin: Admin) -> Any:
        return {"queued": await digests.send_digests()}

    @router.post(
        "/deliveries/{delivery_id:path}/release",
        tags=["deliveries"],
        summary="Release a letter proofreading held, once its data is fixed: it is rendered "
        "again and queued if it passes",
        response_model=Released,
        responses=ADMIN_ONLY
        | {
            404: {"description": "No letter held for review under this id"},
            409: {"description": "Proofreading still finds faults (listed in `errors`)"},
        },
    )
    async def release(delivery_id: str, _admin: Admin) -> Released:
        refused = await handlers.release(delivery_id)
        if refused is not None:
            raise Refused(refused)
        return Released(delivery_id=delivery_id, released=True)

    return router
