"""The public certificate page: reached from the link printed on a certificate, no login.
It shows the certificate's facts as approvals signed them, its status today (the one rule,
`smartcity_th.contracts.certificate.status`, with the deployment's go-live) and whether its
signature checks against the public key the agency registry holds. No personal data: the
certificate names an area, a province and a proposal reference, never a person or an address.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse

from smartcity_th.contracts.certificate import status
from smartcity_th.contracts.certificate_seal import check_seal, facts
from smartcity_th.contracts.signing import SigningKey
from smartcity_th.services.approvals.adapters.repository import MongoCaseRepository
from smartcity_th.services.approvals.domain import award_from, certificate_from
from smartcity_th.services.approvals.handlers import CaseHandlers
from smartcity_th.services.common.certificate_document import (
    CertificateFacts,
    certificate_url,
    page_csp,
    render_certificate,
)
from smartcity_th.services.common.errors import HTTPRefusal

CACHE = {"Cache-Control": "no-store"}
"""The status and the signature check are as of the request (a key may be revoked)."""


def build_router(
    repo: MongoCaseRepository,
    handlers: CaseHandlers,
    signing_keys: Callable[[], Mapping[str, SigningKey]],
    base_url: str,
) -> APIRouter:
    router = APIRouter(tags=["certificates"])

    async def look_up(number: str) -> dict[str, Any]:
        doc = await repo.by_certificate_number(number)
        award = None
        if doc is not None:
            award = award_from(
                doc.get("history") or [],
                doc.get("certificate"),
                doc["area_name"],
                doc["province_code"],
            )
        cert = (
            None
            if doc is None
            else certificate_from(
                doc.get("history") or [],
                doc.get("certificate"),
                doc["area_name"],
                doc["province_code"],
            )
        )
        if doc is None or award is None or cert is None:
            raise HTTPRefusal(
                404,
                f"no certificate {number[:40]!r}: check the number printed on the certificate",
                f"ไม่พบใบรับรองเลขที่ {number[:40]} โปรดตรวจสอบเลขที่ที่พิมพ์บนใบรับรอง",
            )
        as_of = handlers.clock().date()
        return {
            "facts": CertificateFacts(award, doc["_id"], certificate_url(base_url, number)),
            "status": status(cert, as_of, handlers.rules.go_live),
            "verdict": check_seal(award, doc["_id"], signing_keys()),
            "as_of": as_of,
        }

    @router.get(
        "/certificates/{number}",
        summary="A certificate's public page (HTML): its facts, status and signature check",
        response_class=HTMLResponse,
        responses={404: {"description": "No certificate with this number"}},
    )
    async def certificate_page(number: str) -> HTMLResponse:
        found = await look_up(number)
        html = render_certificate(
            found["facts"], status=found["status"], verdict=found["verdict"], as_of=found["as_of"]
        )
        return HTMLResponse(html, headers={"Content-Security-Policy": page_csp(html), **CACHE})

    @router.get(
        "/certificates/{number}/facts",
        summary="A certificate's facts, signed statement, status and signature check (JSON)",
        responses={404: {"description": "No certificate with this number"}},
    )
    async def certificate_facts(number: str) -> JSONResponse:
        found = await look_up(number)
        cert: CertificateFacts = found["facts"]
        stated = cert.statement
        seal = cert.award.seal
        return JSONResponse(
            {
                "certificate": facts(cert.award, cert.proposal_id),
                "url": cert.url,
                "seal": None if seal is None else seal.model_dump(mode="json"),
                "statement_base64": None
                if stated is None
                else base64.b64encode(stated).decode("ascii"),
                "signature": found["verdict"].as_dict(),
                "status": found["status"].as_dict(),
                "as_of": found["as_of"].isoformat(),
            },
            headers=CACHE,
        )

    return router
