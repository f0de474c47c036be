"""The public status page of one proposal: read-only, no operator login, opened by the signed,
expiring link an email carries (services/notifications/links.py). Thai first, English below."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from smartcity_th.services.notifications.adapters.view import ProposalsView
from smartcity_th.services.notifications.links import LinkExpired, LinkInvalid, StatusLinks
from smartcity_th.services.notifications.office import Office
from smartcity_th.services.notifications.rendering import (
    StatusProblem,
    render_status_page,
    status_page_csp,
)


def build_router(view: ProposalsView, links: StatusLinks, office: Office) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/status/{token}",
        response_class=HTMLResponse,
        # A page for people (Thai first, HTML errors included), opened from an email's link: not
        # part of the JSON API that the OpenAPI document and its one error shape describe.
        include_in_schema=False,
        tags=["status"],
        summary="A proposal's status page (public, by the signed link in an email)",
    )
    async def status_page(token: str) -> HTMLResponse:
        # Its own policy (the page's inline style sheet, by hash); the other security headers
        # are every response's (services/common/web_security.py).
        headers = {"Content-Security-Policy": status_page_csp(), "Cache-Control": "no-store"}
        try:
            proposal_id, expires = links.open(token)
        except LinkExpired:
            page = render_status_page(None, StatusProblem.EXPIRED, office=office)
            return HTMLResponse(page, status_code=410, headers=headers)
        except LinkInvalid:
            page = render_status_page(None, StatusProblem.INVALID, office=office)
            return HTMLResponse(page, status_code=404, headers=headers)
        proposal = await view.get(proposal_id)
        if proposal is None or "area_name" not in proposal:
            page = render_status_page(None, StatusProblem.UNKNOWN, office=office)
            return HTMLResponse(page, status_code=404, headers=headers)
        page = render_status_page(proposal, None, expires=expires, office=office)
        return HTMLResponse(page, headers=headers)

    return router
