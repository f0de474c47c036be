"""The web console: server-rendered pages (Jinja2), no build step. Pages read the same views as
the JSON API; replaying needs an operator login."""

import contextlib
import json
import urllib.parse
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from contracts.agencies import Agency
from services.common.auth import ApiKeys
from services.console.audit import MongoAuditLog
from services.console.entrypoints.http import filters_from
from services.console.flow import stage_diagram, tile_map
from services.console.handlers import NotFound, Replayer
from services.console.sessions import COOKIE, Sessions
from services.console.views import Filters, dead_letter, delivery, may_replay, registry, row

HERE = Path(__file__).resolve().parent.parent
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
)
CSS = (HERE / "static" / "console.css").read_text(encoding="utf-8")


async def form_of(request: Request) -> dict[str, str]:
    raw = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}


def build_router(
    audit: MongoAuditLog,
    replayer: Replayer,
    keys: ApiKeys,
    sessions: Sessions,
    jaeger_url: str = "http://127.0.0.1:16686",
) -> APIRouter:
    router = APIRouter(tags=["web console"], include_in_schema=False)

    async def current_user(request: Request) -> Agency | None:
        return await sessions.resolve(request.cookies.get(COOKIE))

    User = Annotated[Agency | None, Depends(current_user)]
    Filt = Annotated[Filters, Depends(filters_from)]

    def page(name: str, user: Agency | None, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = templates.get_template(name).render(user=user, jaeger_url=jaeger_url, **ctx)
        return HTMLResponse(html, status_code=status)

    @router.get("/static/console.css")
    async def css() -> Response:
        return Response(CSS, media_type="text/css; charset=utf-8")

    @router.get("/")
    async def home() -> RedirectResponse:
        return RedirectResponse("/events", status_code=303)

    @router.get("/events")
    async def events(user: User, f: Filt) -> HTMLResponse:
        head = await audit.head()
        entries = await audit.page(f.query(), limit=100, newest_first=True)
        rows = [row(e) for e in entries]
        stream = "/api/events/stream?" + urllib.parse.urlencode(
            {**f.params(), "after_seq": str(head["seq"])}
        )
        return page("events.html", user, rows=rows, filters=f, stream_url=stream, nav="events")

    @router.get("/proposals/{proposal_id}")
    async def timeline(user: User, proposal_id: str) -> HTMLResponse:
        entries = await audit.page({"proposal_id": proposal_id}, limit=10_000)
        return page(
            "timeline.html",
            user,
            status=200 if entries else 404,
            proposal_id=proposal_id,
            rows=[row(e) for e in entries],
            diagram=stage_diagram(entries),
            nav="events",
        )

    @router.get("/registry")
    async def get_registry(user: User, province: str | None = None) -> HTMLResponse:
        entries = await audit.page(
            {"event_type": "CertificationAwarded", "kind": "event"}, limit=100_000
        )
        try:
            reg = registry(entries, province or None)
        except ValueError as exc:
            return page("message.html", user, status=400, title="Registry", message=str(exc))
        top = max([p["areas"] for p in reg["by_province"]], default=1)
        return page(
            "registry.html",
            user,
            reg=reg,
            top=top,
            province=province or "",
            tiles=tile_map(reg["by_province"]),
            nav="registry",
        )

    @router.get("/deliveries")
    async def deliveries(user: User) -> HTMLResponse:
        entries = await audit.page(
            {"kind": "event", "event_type": {"$in": ["NotificationSent", "NotificationFailed"]}},
            limit=1000,
            newest_first=True,
        )
        return page("deliveries.html", user, rows=[delivery(e) for e in entries], nav="deliveries")

    @router.get("/deadletters")
    async def deadletters(user: User, done: str | None = None) -> HTMLResponse:
        entries = await audit.page({"kind": "deadletter"}, limit=1000, newest_first=True)
        replays = await audit.replays_of([e["dead_letter_id"] for e in entries])
        rows = [dead_letter(e, replays.get(e["dead_letter_id"], [])) for e in entries]
        for r in rows:
            r["original"] = _preview(r)
        return page(
            "deadletters.html",
            user,
            rows=rows,
            done=done,
            nav="deadletters",
            can_replay=user is not None and may_replay(user),
        )

    @router.post("/deadletters/{dead_letter_id}/replay")
    async def replay(request: Request, user: User, dead_letter_id: str) -> Response:
        if user is None:
            return RedirectResponse("/login?next=/deadletters", status_code=303)
        if not may_replay(user):
            return page(
                "message.html",
                user,
                status=403,
                title="Not allowed",
                message=f"{user.agency_id} may not replay dead letters / ไม่มีสิทธิ์ส่งข้อความซ้ำ",
            )
        form = await form_of(request)
        name = form.get("operator", "").strip()[:100]
        who = user.agency_id + (f" ({name})" if name else "")
        try:
            await replayer.replay(dead_letter_id, who)
        except NotFound:
            return page(
                "message.html",
                user,
                status=404,
                title="Not found",
                message=f"no dead letter {dead_letter_id} / ไม่พบ",
            )
        return RedirectResponse(
            f"/deadletters?done={urllib.parse.quote(dead_letter_id)}", status_code=303
        )

    @router.get("/login")
    async def login_form(user: User, next: str = "/deadletters") -> HTMLResponse:
        return page("login.html", user, next=_safe_next(next), error=None, nav="login")

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await form_of(request)
        target = _safe_next(form.get("next", "/deadletters"))
        who = await keys.resolve(form.get("api_key", "").strip())
        if who is None:
            await keys.record_refusal(request, "invalid")
            return page(
                "login.html",
                None,
                status=401,
                next=target,
                nav="login",
                error="Unknown or revoked API key / API key ไม่ถูกต้องหรือถูกเพิกถอน",
            )
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(
            COOKIE, await sessions.open(who), httponly=True, samesite="strict", path="/"
        )
        return resp

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        await sessions.close(request.cookies.get(COOKIE))
        resp = RedirectResponse("/events", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    return router


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/deadletters"


def _preview(r: dict[str, Any]) -> str:
    import base64

    raw = base64.b64decode(r.get("value_b64") or "")
    text = raw.decode("utf-8", errors="replace")
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), ensure_ascii=False)
    return text[:300]
