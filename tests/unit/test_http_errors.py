"""The one error type of the HTTP APIs and the one body of every refusal
(services/common/errors.py), in process through httpx's ASGI transport: the shape is the app's."""

from __future__ import annotations

import httpx
from fastapi import Depends, FastAPI, HTTPException

from smartcity_th.contracts.proposals import ErrorResponse
from smartcity_th.services.common.errors import HTTPRefusal, install_error_shape


def app() -> FastAPI:
    api = FastAPI()
    install_error_shape(api)

    async def gate() -> None:
        raise HTTPRefusal(
            401, "missing API key", "ไม่พบ API key", headers={"WWW-Authenticate": "Bearer"}
        )

    @api.get("/gated", dependencies=[Depends(gate)])
    async def gated() -> dict[str, str]:
        return {}

    @api.get("/scan")
    async def scan() -> None:
        raise HTTPRefusal(
            422,
            "as_of is in the future",
            "วันที่ยังมาไม่ถึง",
            errors=[{"field": "query.as_of", "message": {"en": "future", "th": "อนาคต"}}],
        )

    @api.get("/plain")
    async def plain() -> None:
        raise HTTPException(404)  # a library's own refusal: the same shape

    @api.get("/limited")
    async def limited(n: int) -> int:
        return n

    return api


async def test_every_refusal_has_the_one_documented_body() -> None:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await check(client)


async def check(client: httpx.AsyncClient) -> None:
    gated = await client.get("/gated")
    assert gated.status_code == 401
    assert gated.headers["WWW-Authenticate"] == "Bearer"
    assert gated.json() == {"error": "missing API key", "error_th": "ไม่พบ API key", "errors": []}
    scan = await client.get("/scan")
    assert scan.status_code == 422
    body = ErrorResponse.model_validate(scan.json())
    assert [e.field for e in body.errors] == ["query.as_of"]
    assert body.errors[0].message.th == "อนาคต"
    for path in ("/plain", "/limited?n=x", "/nowhere"):
        response = await client.get(path)
        assert response.status_code in (404, 422)
        ErrorResponse.model_validate(response.json())  # no {"detail": ...}
        assert "detail" not in response.json()
