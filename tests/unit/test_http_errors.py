"""The one error type of the HTTP APIs and the one body of every refusal
(services/common/errors.py), in process through httpx's ASGI transport: the shape is the app's."""

from __future__ import annotations

import httpx
from fastapi import Depends, FastAPI, HTTPException

from smartcity_th.contracts.approvals import MeetingRecorded
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


async def test_a_body_its_own_model_refuses_is_a_422_that_gives_the_models_reason() -> None:
    """As `POST /meetings` (services/approvals/entrypoints/http.py) takes a `MeetingRecorded`: a
    meeting whose body may not take one of its decisions never reaches the handler; the answer
    is the one body, with the model's own reason among its errors."""
    api = FastAPI()
    install_error_shape(api)
    reached: list[MeetingRecorded] = []

    @api.post("/meetings")
    async def record(meeting: MeetingRecorded) -> None:
        reached.append(meeting)

    chair = {"th": "ปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม", "en": "Permanent Secretary, DES"}
    body = {
        "body": "subcommittee",
        "meeting": {"meeting_id": "99/2565", "held_on": "2022-03-15", "chair": chair},
        "decisions": [
            {"proposal_id": "SC-X00000001", "decision": "CabinetEndorsed", "resolution": "x"}
        ],
    }
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        resp = await client.post("/meetings", json=body)
    assert resp.status_code == 422, resp.text
    answer = ErrorResponse.model_validate(resp.json())
    assert answer.error_th
    assert any(
        "a subcommittee meeting cannot take CabinetEndorsed" in e.message.en for e in answer.errors
    )
    assert reached == []
