"""The one shape of every HTTP refusal, on every service: a reason in English and Thai, and one
entry per field (dotted path) with a message in both languages; plus the request-body limit.
A refusal of the domain (`contracts/refusal.py`) gets its status here, from its kind, and
nowhere else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartcity_th.contracts.common import BilingualText, safe_text, unstorable
from smartcity_th.contracts.proposals import FieldError
from smartcity_th.contracts.refusal import Refusal, RefusalKind, Refused

_THAI: dict[str, str] = {
    "missing": "ต้องระบุข้อมูลนี้",
    "extra_forbidden": "ไม่รู้จักฟิลด์นี้",
    "too_short": "มีจำนวนน้อยเกินไป (ต้องมีอย่างน้อย {min_length} รายการ)",
    "too_long": "มีจำนวนมากเกินไป (ไม่เกิน {max_length} รายการ)",
    "string_too_short": "สั้นเกินไป (อย่างน้อย {min_length} ตัวอักษร)",
    "string_too_long": "ยาวเกินไป (ไม่เกิน {max_length} ตัวอักษร)",
    "string_type": "ต้องเป็นข้อความ",
    "string_pattern_mismatch": "รูปแบบไม่ถูกต้อง",
    "greater_than_equal": "ต้องไม่น้อยกว่า {ge} (ห้ามติดลบ)",
    "greater_than": "ต้องมากกว่า {gt}",
    "less_than_equal": "ต้องไม่เกิน {le}",
    "decimal_parsing": "ต้องเป็นจำนวนเงิน (ตัวเลข)",
    "decimal_max_digits": "มีจำนวนหลักมากเกินไป",
    "decimal_max_places": "ทศนิยมเกิน {decimal_places} ตำแหน่ง",
    "enum": "ต้องเป็นหนึ่งใน {expected}",
    "bool_parsing": "ต้องเป็น true หรือ false",
    "bool_type": "ต้องเป็น true หรือ false",
    "int_parsing": "ต้องเป็นจำนวนเต็ม",
    "url_parsing": "ไม่ใช่ URL ที่ถูกต้อง",
    "url_scheme": "URL ต้องขึ้นต้นด้วย http หรือ https",
    "json_invalid": "ไม่ใช่ JSON ที่ถูกต้อง",
    "model_attributes_type": "ต้องเป็นออบเจกต์ JSON",
    "dict_type": "ต้องเป็นออบเจกต์ JSON",
    "list_type": "ต้องเป็นรายการ (array)",
    "datetime_parsing": "ต้องเป็นวันเวลาแบบ ISO 8601",
    "datetime_from_date_parsing": "ต้องเป็นวันเวลาแบบ ISO 8601",
    "value_error": "ค่าไม่ถูกต้อง",
}


# Starlette's and FastAPI's own refusals say why in English only; their Thai reason.
_THAI_DETAIL: dict[str, str] = {
    "There was an error parsing the body": "อ่านเนื้อหาของคำขอไม่ได้ (ต้องเป็น JSON ที่ถูกต้อง)",
    "Not Found": "ไม่พบที่อยู่นี้",
    "Method Not Allowed": "ที่อยู่นี้ไม่รองรับเมธอดนี้",
}
_THAI_STATUS: dict[int, str] = {
    400: "คำขอไม่ถูกต้อง",
    401: "ไม่ได้ยืนยันตัวตน",
    403: "ไม่มีสิทธิ์",
    404: "ไม่พบสิ่งที่ขอ",
    405: "ที่อยู่นี้ไม่รองรับเมธอดนี้",
    413: "เนื้อหาของคำขอใหญ่เกินไป",
    415: "ไม่รองรับชนิดของเนื้อหานี้",
    429: "มีคำขอมากเกินไป กรุณารอแล้วลองใหม่",
}


def thai_reason(status: int, english: str) -> str:
    """The Thai reason of a refusal that the web framework answered itself (never English)."""
    return _THAI_DETAIL.get(english) or _THAI_STATUS.get(status, "คำขอไม่สำเร็จ")


def dotted(loc: Sequence[int | str]) -> str:
    """'body.plan.smart_solutions' -> 'plan.smart_solutions'; query and header keep a prefix."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "(body)"


def thai_message(error: dict[str, Any]) -> str:
    template = _THAI.get(str(error.get("type")), "ข้อมูลไม่ถูกต้อง")
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError, ValueError):
        return template.split(" (")[0]


def field_errors(errors: Sequence[Any]) -> list[FieldError]:
    out: list[FieldError] = []
    for error in errors:
        # The location and message can quote the input (a key, a value): made storable first.
        message = safe_text(error.get("msg", ""), 500).strip() or "invalid value"
        out.append(
            FieldError(
                field=safe_text(dotted(error.get("loc", ())), 500).strip() or "(body)",
                message=BilingualText(en=message, th=thai_message(error)[:500]),
            )
        )
    return out


def validation_body(errors: Sequence[Any]) -> dict[str, Any]:
    found = field_errors(errors)
    count = len(found)
    return error_body(
        f"the request has {count} invalid field{'s' if count != 1 else ''}",
        f"คำขอมีข้อมูลไม่ถูกต้อง {count} รายการ",
        [e.model_dump() for e in found],
    )


def error_body(en: str, th: str, errors: Sequence[Any] = ()) -> dict[str, Any]:
    """The one shape of every refusal: {"error", "error_th", "errors": [{field, message}]}."""
    return {"error": en, "error_th": th, "errors": list(errors)}


HTTP_STATUS: dict[RefusalKind, int] = {
    RefusalKind.VALIDATION: 422,
    RefusalKind.CONTACT_OUTSIDE_DOMAINS: 422,
    RefusalKind.UNAUTHORISED: 403,
    RefusalKind.UNKNOWN_PROPOSAL: 404,
    RefusalKind.NOT_FOUND: 404,
    RefusalKind.CONFLICT: 409,
}
"""The HTTP status of each kind of refusal (the OpenAPI documents declare them per route)."""


def refusal_body(refusal: Refusal) -> dict[str, Any]:
    """A refusal of the domain in the one shape."""
    return error_body(
        refusal.reason.en, refusal.reason.th, [e.model_dump() for e in refusal.errors]
    )


def refusal_response(refusal: Refusal, **extra: Any) -> JSONResponse:
    """A refusal of the domain as the HTTP answer: its kind's status, the one body (with any
    `extra` members an operation documents beside it)."""
    return JSONResponse({**refusal_body(refusal), **extra}, status_code=HTTP_STATUS[refusal.kind])


class HTTPRefusal(Exception):
    """A refusal of the HTTP edge itself, with its status (no API key: 401, too many refused
    requests: 429, a query no store can take: 400, ...): raised by any route or dependency of
    any service and answered in the one documented shape (`error_body`) by
    `install_error_shape`. What the domain refuses is a `Refusal` (`contracts/refusal.py`),
    raised as `Refused` and given its status here (`HTTP_STATUS`)."""

    def __init__(
        self,
        status: int,
        en: str,
        th: str,
        errors: Sequence[Any] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(en)
        self.status = status
        self.body = error_body(en, th, errors)
        self.headers = dict(headers or {})


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def body_too_large(limit: int) -> dict[str, Any]:
    return error_body(
        f"request body exceeds the limit of {limit} bytes",
        f"ข้อมูลที่ส่งมีขนาดเกินกำหนด {limit} ไบต์",
    )


def unstorable_in_url(scope: Scope) -> dict[str, Any] | None:
    """The refusal of a path or query string holding text no store accepts (NUL, "%00"): such a
    value would reach a database query and fail there as a server error."""
    query = unquote_to_bytes(scope.get("query_string", b"")).decode("utf-8", errors="replace")
    for part, text in (("path", str(scope.get("path", ""))), ("query", query)):
        reason = unstorable(text)
        if reason is not None:
            return error_body(
                f"the request's {part} contains {reason}",
                f"{'พาธ' if part == 'path' else 'พารามิเตอร์'}ของคำขอมีอักขระที่บันทึกไม่ได้ (NUL)",
                [{"field": part, "message": {"en": f"contains {reason}", "th": "มีอักขระ NUL"}}],
            )
    return None


class StreamedBodyLimit:
    """Refuses a body that grows past the limit while it streams in (a chunked request has no
    Content-Length to check up front); a declared Content-Length over the limit is refused
    before anything is read. Also refuses, first, a URL that holds unstorable text."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = unstorable_in_url(scope)
        if refusal is not None:
            await JSONResponse(refusal, status_code=400)(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await JSONResponse(body_too_large(self.max_bytes), status_code=413)(
                    scope, receive, send
                )
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)


def install_error_shape(app: FastAPI) -> None:
    """Every refusal in the one documented shape: HTTP errors raised anywhere (a `detail` with
    "error"/"error_th" is kept as is), request validation, the body limit, and the domain's
    refusals (`Refused`)."""

    async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc.__cause__, BodyTooLarge):
            # FastAPI wraps whatever stops it reading the body in "error parsing the body" (400);
            # a body cut off by the streamed limit is a 413.
            return JSONResponse(status_code=413, content=body_too_large(exc.__cause__.limit))
        detail = exc.detail
        if isinstance(detail, dict) and "error" in detail:
            body = error_body(
                str(detail["error"]),
                str(detail.get("error_th", detail["error"])),
                detail.get("errors", []),
            )
        else:
            text = str(detail)
            body = error_body(text, thai_reason(exc.status_code, text))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def on_invalid_request(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(status_code=422, content=validation_body(exc.errors()))

    async def on_refusal(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPRefusal)
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers or None)

    async def on_body_too_large(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BodyTooLarge)
        return JSONResponse(status_code=413, content=body_too_large(exc.limit))

    async def on_refused(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Refused)
        return refusal_response(exc.refusal)

    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(BodyTooLarge, on_body_too_large)
    app.add_exception_handler(HTTPRefusal, on_refusal)
    app.add_exception_handler(Refused, on_refused)
