"""The web console: server-rendered pages (Jinja2), no build step. Pages read the same views as
the JSON API. Every page needs a login of an agency that may use the console; state-changing
forms carry the session's CSRF token (the login form a token of its own); no data is ever put
inside JavaScript: the one script is a static file that reads data attributes, and the
Content-Security-Policy forbids inline script."""

import datetime as dt
import hmac
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from smartcity_th.contracts.agencies import Agency
from smartcity_th.contracts.refusal import Refusal
from smartcity_th.services.common.auth import ApiKeys
from smartcity_th.services.common.errors import HTTP_STATUS
from smartcity_th.services.console.entrypoints.http import (
    AfterSeq,
    BeforeSeq,
    PageLimit,
    cursor_of,
    filters_from,
)
from smartcity_th.services.console.flow import stage_diagram, tile_map
from smartcity_th.services.console.handlers import NotFound, Replayer
from smartcity_th.services.console.paging import DEFAULT_PAGE, MAX_PAGE, Cursor, page_links
from smartcity_th.services.console.ports import AuditLog
from smartcity_th.services.console.projection import Projections
from smartcity_th.services.console.sessions import Session, Sessions
from smartcity_th.services.console.views import (
    Filters,
    chronological,
    dead_letter,
    dead_letters_listing,
    deliveries_listing,
    delivery,
    displayable,
    event_log,
    may_replay,
    may_use_console,
    preview,
    row,
)

HERE = Path(__file__).resolve().parent.parent
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
)
CSS = (HERE / "static" / "console.css").read_text(encoding="utf-8")
JS = (HERE / "static" / "console.js").read_text(encoding="utf-8")
LOGIN_COOKIE = "smartcity_login"
SECURE_LOGIN_COOKIE = "__Secure-smartcity_login"  # (path /login: `__Host-` wants path /)
CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; "
    "style-src 'self'; style-src-attr 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""The console's policy (pages, API, stream); with the other security headers and
`EXTRA_HEADERS` it is set on every response by services/common/web_security.py."""
EXTRA_HEADERS = {"Cache-Control": "no-store"}


class LoginRequired(Exception):
    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


class NoConsoleAccess(Exception):
    def __init__(self, who: Agency) -> None:
        super().__init__(who.agency_id)
        self.who = who


def session_dependency(sessions: Sessions) -> Callable[[Request], Awaitable[Session]]:
    """The FastAPI dependency of every console page: the operator's session, or a redirect to
    the login page (LoginRequired), or 403 for an agency without console access."""

    async def current_session(request: Request) -> Session:
        session = await sessions.lookup(request.cookies.get(sessions.cookie))
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        if not may_use_console(session.agency):
            raise NoConsoleAccess(session.agency)
        request.state.session = session
        return session

    return current_session


def install(app: FastAPI) -> None:
    """The pages' answers to a missing or insufficient login."""

    async def to_login(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        query = urllib.parse.urlencode({"next": _safe_next(exc.target)})
        return RedirectResponse(f"/login?{query}", status_code=303)

    async def forbidden(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NoConsoleAccess)
        html = templates.get_template("message.html").render(
            user=None,
            title="Not allowed",
            message=f"{exc.who.agency_id}: no access to the operators' console "
            "/ ไม่มีสิทธิ์ใช้คอนโซลผู้ปฏิบัติงาน",
        )
        return HTMLResponse(html, status_code=403)

    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(NoConsoleAccess, forbidden)


async def form_of(request: Request) -> dict[str, str]:
    raw = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}


def build_router(
    audit: AuditLog,
    replayer: Replayer,
    keys: ApiKeys,
    sessions: Sessions,
    jaeger_url: str = "http://127.0.0.1:16686",
    go_live: dt.date | None = None,
    *,
    projections: Projections,
) -> APIRouter:
    router = APIRouter(tags=["web console"], include_in_schema=False)
    login_cookie = SECURE_LOGIN_COOKIE if sessions.https else LOGIN_COOKIE
    login_cookie_options: dict[str, Any] = {
        "httponly": True,
        "samesite": "strict",
        "path": "/login",
        "secure": sessions.https,
    }

    current_session = session_dependency(sessions)

    async def current_user(session: Annotated[Session, Depends(current_session)]) -> Agency:
        return session.agency

    User = Annotated[Agency, Depends(current_user)]
    Filt = Annotated[Filters, Depends(filters_from)]

    def page(
        name: str,
        user: Agency | None,
        status: int = 200,
        request: Request | None = None,
        **ctx: Any,
    ) -> HTMLResponse:
        session = getattr(request.state, "session", None) if request is not None else None
        ctx.setdefault("csrf", session.csrf if isinstance(session, Session) else "")
        html = templates.get_template(name).render(user=user, jaeger_url=jaeger_url, **ctx)
        return HTMLResponse(displayable(html), status_code=status)

    @router.get("/static/console.css")
    async def css() -> Response:
        return Response(CSS, media_type="text/css; charset=utf-8")

    @router.get("/static/console.js")
    async def js() -> Response:
        return Response(JS, media_type="text/javascript; charset=utf-8")

    @router.get("/")
    async def home() -> RedirectResponse:
        return RedirectResponse("/events", status_code=303)

    @router.get("/events")
    async def events(
        request: Request,
        user: User,
        f: Filt,
        before_seq: BeforeSeq = None,
        after_seq: AfterSeq = None,
        limit: PageLimit = DEFAULT_PAGE,
    ) -> HTMLResponse:
        cursor = cursor_of(before_seq, after_seq)
        head = await audit.head()
        window = await audit.window(event_log(f), cursor, limit)
        newest = cursor == Cursor()
        stream = "/api/events/stream?" + urllib.parse.urlencode(
            {**f.params(), "after_seq": str(head["seq"])}
        )
        return page(
            "events.html",
            user,
            request=request,
            rows=[row(e) for e in window.entries],
            filters=f,
            stream_url=stream if newest else "",  # an older page stays as it is
            pages=page_links("/events", f.params(), window, limit),
            nav="events",
        )

    @router.get("/proposals/{proposal_id}")
    async def timeline(request: Request, user: User, proposal_id: str) -> HTMLResponse:
        entries = await audit.page({"proposal_id": proposal_id}, limit=10_000)
        return page(
            "timeline.html",
            user,
            request=request,
            status=200 if entries else 404,
            proposal_id=proposal_id,
            rows=chronological(entries),
            diagram=stage_diagram(entries),
            nav="events",
        )

    @router.get("/registry")
    async def get_registry(
        request: Request, user: User, province: str | None = None
    ) -> HTMLResponse:
        try:
            reg = await projections.registry(province or None, go_live)
        except ValueError as exc:
            return page(
                "message.html",
                user,
                request=request,
                status=400,
                title="Registry",
                message=str(exc),
            )
        top = max([p["areas"] for p in reg["by_province"]], default=1)
        return page(
            "registry.html",
            user,
            request=request,
            reg=reg,
            top=top,
            province=province or "",
            tiles=tile_map(reg["by_province"]),
            nav="registry",
        )

    @router.get("/deliveries")
    async def deliveries(
        request: Request,
        user: User,
        proposal: str | None = None,
        before_seq: BeforeSeq = None,
        after_seq: AfterSeq = None,
        limit: PageLimit = DEFAULT_PAGE,
    ) -> HTMLResponse:
        window = await audit.window(
            deliveries_listing(proposal or None), cursor_of(before_seq, after_seq), limit
        )
        kept = {"proposal": proposal} if proposal else {}
        return page(
            "deliveries.html",
            user,
            request=request,
            rows=[delivery(e) for e in window.entries],
            proposal=proposal or "",
            pages=page_links("/deliveries", kept, window, limit),
            nav="deliveries",
        )

    @router.get("/deadletters")
    async def deadletters(
        request: Request,
        user: User,
        done: str | None = None,
        error: str | None = None,
        before_seq: BeforeSeq = None,
        after_seq: AfterSeq = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> HTMLResponse:
        window = await audit.window(
            dead_letters_listing(error or None), cursor_of(before_seq, after_seq), limit
        )
        entries = window.entries
        replays = await audit.replays_of([e["dead_letter_id"] for e in entries])
        rows = [dead_letter(e, replays.get(e["dead_letter_id"], [])) for e in entries]
        for r in rows:
            r["original"] = preview(r.get("value_b64"))
        return page(
            "deadletters.html",
            user,
            request=request,
            rows=rows,
            done=done,
            error=error or "",
            pages=page_links("/deadletters", {"error": error} if error else {}, window, limit),
            nav="deadletters",
            can_replay=may_replay(user),
        )

    @router.post("/deadletters/{dead_letter_id}/replay")
    async def replay(
        request: Request, session: Annotated[Session, Depends(current_session)], dead_letter_id: str
    ) -> Response:
        user = session.agency
        form = await form_of(request)
        if not session.csrf_ok(form.get("csrf")):
            return page(
                "message.html",
                user,
                request=request,
                status=403,
                title="Not allowed",
                message="the form has expired; reload the page / แบบฟอร์มหมดอายุ กรุณาโหลดหน้าใหม่",
            )
        if not may_replay(user):
            return page(
                "message.html",
                user,
                request=request,
                status=403,
                title="Not allowed",
                message=f"{user.agency_id} may not replay dead letters / ไม่มีสิทธิ์ส่งข้อความซ้ำ",
            )
        name = form.get("operator", "").strip()[:100]
        who = user.agency_id + (f" ({name})" if name else "")
        try:
            outcome = await replayer.replay(dead_letter_id, who)
        except NotFound:
            return page(
                "message.html",
                user,
                request=request,
                status=404,
                title="Not found",
                message=f"no dead letter {dead_letter_id} / ไม่พบ",
            )
        if isinstance(outcome, Refusal):
            return page(
                "message.html",
                user,
                request=request,
                status=HTTP_STATUS[outcome.kind],
                title="Not replayed",
                message=f"{outcome.reason.en} / {outcome.reason.th}",
            )
        return RedirectResponse(
            f"/deadletters?done={urllib.parse.quote(dead_letter_id)}", status_code=303
        )

    def login_page(target: str, status: int = 200, error: str | None = None) -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        resp = page(
            "login.html", None, status=status, next=target, nav="login", error=error, csrf=token
        )
        resp.set_cookie(login_cookie, token, **login_cookie_options)
        return resp

    @router.get("/login")
    async def login_form(next: str = "/events") -> HTMLResponse:
        return login_page(_safe_next(next))

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await form_of(request)
        target = _safe_next(form.get("next", "/events"))
        expected = request.cookies.get(login_cookie) or ""
        if not expected or not hmac.compare_digest(expected, form.get("csrf", "")):
            return login_page(
                target, 403, "The form has expired; try again / แบบฟอร์มหมดอายุ กรุณาลองใหม่"
            )
        found = keys.resolve(form.get("api_key", "").strip())
        if found is None:
            await keys.record_refusal(request, "invalid")
            return login_page(
                target, 401, "Unknown or revoked API key / API key ไม่ถูกต้องหรือถูกเพิกถอน"
            )
        who, key_id = found
        if not may_use_console(who):
            await keys.record_refusal(request, "forbidden")
            return login_page(
                target,
                403,
                f"{who.agency_id} has no access to the operators' console "
                f"/ {who.agency_id} ไม่มีสิทธิ์ใช้คอนโซลผู้ปฏิบัติงาน",
            )
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(
            sessions.cookie, await sessions.open(who, key_id), **sessions.cookie_options()
        )
        resp.delete_cookie(login_cookie, **login_cookie_options)
        return resp

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        cookie = request.cookies.get(sessions.cookie)
        session = await sessions.lookup(cookie)
        form = await form_of(request)
        if session is not None and session.csrf_ok(form.get("csrf")):
            await sessions.close(cookie)
        resp = RedirectResponse("/login", status_code=303)
        if session is None or session.csrf_ok(form.get("csrf")):
            resp.delete_cookie(sessions.cookie, **sessions.cookie_options())
        return resp

    return router


def _safe_next(target: str) -> str:
    ok = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if ok and target.isprintable() else "/events"
