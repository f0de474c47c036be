"""Security headers on every response of every HTTP service (issue 24): a Content-Security-Policy,
`frame-ancestors 'none'` with `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff` and
`Referrer-Policy: no-referrer`, including 500 answers, which Starlette's outermost error
middleware sends past every other middleware (so `install` answers them itself, in the one error
shape, with the same headers).

A response that sets a header itself keeps it (the console's pages and the status page carry
their own policy). The policy otherwise: the service's own (`csp`; the console's allows its
static script and style), or, for the JSON APIs, nothing at all may load; FastAPI's `/docs` and
`/redoc` pages load Swagger UI and ReDoc from their CDN with an inline start-up script, and get a
policy that allows just that (they show no data of their own; the API they call answers JSON
under the strict policy).
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartcity_th.services.common.errors import error_body

log = structlog.get_logger(__name__)

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
BASE_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def headers_for(path: str, csp: str, extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The security headers a response to `path` gets (where it does not set them itself)."""
    docs = any(path == p or path.startswith(p + "/") for p in DOCS_PATHS)
    return {"Content-Security-Policy": DOCS_CSP if docs else csp, **BASE_HEADERS, **extra}


class SecurityHeaders:
    """ASGI middleware: adds `headers_for` to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp, csp: str = API_CSP, extra: Mapping[str, str] = {}) -> None:
        self.app = app
        self.csp = csp
        self.extra = dict(extra)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = headers_for(str(scope.get("path", "")), self.csp, self.extra)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


SERVER_ERROR = error_body(
    "internal error: the request was not completed; it is logged, try again later",
    "เกิดข้อผิดพลาดภายในระบบ คำขอยังไม่สำเร็จ ระบบบันทึกไว้แล้ว กรุณาลองใหม่ภายหลัง",
)


def install(app: FastAPI, csp: str = API_CSP, extra: Mapping[str, str] = {}) -> None:
    """Security headers on every response of `app`, and its 500 answer: the one error shape
    with the same headers (Starlette sends it from outside every middleware)."""
    app.add_middleware(SecurityHeaders, csp=csp, extra=extra)

    async def on_server_error(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "http.server_error",
            path=request.url.path,
            error=f"{type(exc).__name__}: {exc}"[:1000],
        )
        return JSONResponse(
            SERVER_ERROR, status_code=500, headers=headers_for(request.url.path, csp, extra)
        )

    app.add_exception_handler(Exception, on_server_error)
