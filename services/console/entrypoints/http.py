"""JSON API of the console (what the CLI reads) and the live stream (server-sent events).
Every route needs an operator: an API key (X-API-Key) or the web console's session cookie, of an
agency that may use the console (`may_use_console`)."""

import base64
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import APIKeyCookie

from smartcity_th.contracts.agencies import Agency
from smartcity_th.contracts.refusal import Refusal, Refused
from smartcity_th.services.common.auth import (
    ApiKeys,
    KeyAsBearer,
    KeyInHeader,
    api_key_from,
    authenticate,
)
from smartcity_th.services.common.errors import HTTPRefusal, refusal_response
from smartcity_th.services.common.registry import RegistryProjection
from smartcity_th.services.common.registry_admin import hash_key
from smartcity_th.services.console.audit import MAX_SEQ
from smartcity_th.services.console.domain import may_not_replay, no_console_access, unknown_proposal
from smartcity_th.services.console.handlers import NotFound, Replayer
from smartcity_th.services.console.paging import (
    DEFAULT_PAGE,
    MAX_PAGE,
    BadCursor,
    Cursor,
    Window,
    link_header,
)
from smartcity_th.services.console.ports import AuditLog
from smartcity_th.services.console.projection import Projections
from smartcity_th.services.console.responses import (
    AuditEntry,
    ChainHead,
    DeadLetterView,
    Delivery,
    EventRow,
    Registry,
    Replayed,
    SigningKeys,
)
from smartcity_th.services.console.sessions import Sessions
from smartcity_th.services.console.views import (
    WHOLE_REGISTRY,
    BadFilter,
    Filters,
    chronological,
    dead_letter,
    dead_letters_listing,
    deliveries_listing,
    delivery,
    event_log,
    may_replay,
    may_use_console,
    parse_since,
    row,
)


class EventStream(StreamingResponse):
    """Server-sent events (as the OpenAPI document names the stream's content type)."""

    media_type = "text/event-stream"


def filters_from(
    proposal: str | None = None,
    type: str | None = None,
    producer: str | None = None,
    province: str | None = None,
    agency: str | None = None,
    since: str | None = None,
) -> Filters:
    try:
        when = parse_since(since, dt.datetime.now(dt.UTC)) if since else None
        f = Filters(
            proposal=proposal or None,
            type=type or None,
            producer=producer or None,
            province=province or None,
            agency=agency or None,
            since=when,
        )
        f.query()
    except BadFilter as exc:
        raise HTTPRefusal(400, str(exc), f"ตัวกรองไม่ถูกต้อง: {exc}") from None
    return f


def session_cookie(name: str) -> Any:
    """The web console's login, as the OpenAPI document declares it beside the API key
    (`viewer` reads the cookie itself), as a dependency's default: `name` is
    `Sessions.cookie`, which depends on the HTTPS setting."""
    return Security(
        APIKeyCookie(
            name=name,
            scheme_name="ConsoleSession",
            auto_error=False,
            description="The session cookie of a web-console login (POST /login)",
        )
    )


def not_found(what: str) -> HTTPRefusal:
    """A missing page: what the address names does not exist (a dead letter). What the console
    refuses for a reason of its own is a `Refusal` (services/console/domain.py), answered by
    `refusal_response` or raised as `Refused`."""
    return HTTPRefusal(404, f"no {what}", f"ไม่พบ {what}")


def refused(status: int, en: str, th: str, **headers: str) -> HTTPRefusal:
    return HTTPRefusal(status, en, th, headers=headers or None)


async def viewer(request: Request, keys: ApiKeys, sessions: Sessions) -> Agency:
    """The caller, by API key or session cookie; refused unless it may use the console."""
    if api_key_from(request):
        caller = await authenticate(request, keys)
    else:
        found = await sessions.resolve(request.cookies.get(sessions.cookie))
        if found is None:
            await keys.record_refusal(request, "missing")
            raise refused(
                401,
                "log in, or send an operator API key in the X-API-Key header",
                "กรุณาเข้าสู่ระบบ หรือส่ง API key ในส่วนหัว X-API-Key",
                **{"WWW-Authenticate": "Bearer"},
            )
        caller = found
    if not may_use_console(caller):
        await keys.record_refusal(request, "forbidden")
        raise Refused(no_console_access(caller.agency_id))
    request.state.caller = caller
    return caller


async def operator(request: Request, keys: ApiKeys) -> Agency:
    caller = await authenticate(request, keys)
    if not may_replay(caller):
        await keys.record_refusal(request, "forbidden")
        raise Refused(may_not_replay(caller.agency_id))
    return caller


async def live(
    request: Request, audit: AuditLog, query: dict[str, Any], after: int, poll_seconds: float
) -> AsyncIterator[bytes]:
    """New entries as they are appended: woken by this process's appends, and every
    `poll_seconds` at the latest (entries another console instance appended; a keep-alive)."""
    last = after
    yield b"retry: 2000\n\n"
    while not await request.is_disconnected():
        appended = audit.next_append()
        entries = await audit.page(query, after_seq=last, limit=200)
        for entry in entries:
            last = entry["seq"]
            data = json.dumps(row(entry), ensure_ascii=False)
            yield f"id: {last}\nevent: entry\ndata: {data}\n\n".encode()
        if not entries and not await audit.wait_for(appended, poll_seconds):
            yield b": keep-alive\n\n"


def stream_owner(request: Request, sessions: Sessions) -> str:
    """Whose live streams these are: the session, or the API key (hashed)."""
    key = api_key_from(request)
    if key:
        return "key:" + hash_key(key)
    return f"session:{sessions.sid_of(request.cookies.get(sessions.cookie))}"


BeforeSeq = Annotated[
    int | None, Query(ge=1, le=MAX_SEQ, description="The page of entries older than this one")
]
AfterSeq = Annotated[
    int | None, Query(ge=0, le=MAX_SEQ, description="The page of entries newer than this one")
]
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Entries per page")]
PAGED: dict[str, Any] = {
    "headers": {
        "Link": {
            "description": 'The neighbouring pages (RFC 8288): rel="next" the older page, '
            'rel="prev" the newer one; absent when there is neither',
            "schema": {"type": "string"},
        }
    }
}


def cursor_of(before_seq: int | None, after_seq: int | None) -> Cursor:
    try:
        return Cursor.of(before_seq, after_seq)
    except BadCursor as exc:
        raise HTTPRefusal(
            400, str(exc), "ระบุได้เพียง before_seq หรือ after_seq อย่างใดอย่างหนึ่ง"
        ) from None


def listing(request: Request, rows: list[dict[str, Any]], page: Window, limit: int) -> JSONResponse:
    """A page of a list as JSON: the rows, and the neighbouring pages in a `Link` header."""
    link = link_header(request.url.path, dict(request.query_params), page, limit)
    return JSONResponse(rows, headers={"Link": link} if link else None)


def build_router(
    audit: AuditLog,
    replayer: Replayer,
    keys: ApiKeys,
    poll_seconds: float,
    agency_registry: RegistryProjection,
    sessions: Sessions,
    *,
    max_streams: int = 3,
    go_live: dt.date | None = None,
    projections: Projections,
) -> APIRouter:
    async def current_viewer(
        request: Request,
        _key: KeyInHeader,
        _bearer: KeyAsBearer,
        _session: str | None = session_cookie(sessions.cookie),
    ) -> Agency:
        return await viewer(request, keys, sessions)

    router = APIRouter(
        prefix="/api",
        tags=["console"],
        dependencies=[Depends(current_viewer)],
        responses={403: {"description": "The agency may not use the operators' console"}},
    )
    Filt = Annotated[Filters, Depends(filters_from)]
    open_streams: dict[str, int] = {}

    async def current_operator(request: Request, _key: KeyInHeader, _bearer: KeyAsBearer) -> Agency:
        return await operator(request, keys)

    Operator = Annotated[Agency, Depends(current_operator)]

    @router.get(
        "/events",
        summary="Audit log entries, oldest first after `after_seq`; `newest`: a page of the "
        "newest (older than `before_seq`, newer than `after_seq`), its neighbours in `Link`",
        response_model=list[EventRow],
        responses={
            200: PAGED,
            400: {"description": "Both before_seq and after_seq, or a bad filter"},
        },
    )
    async def events(
        request: Request,
        f: Filt,
        after_seq: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
        before_seq: BeforeSeq = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        newest: bool = False,
    ) -> JSONResponse:
        if newest or before_seq is not None:
            cursor = cursor_of(before_seq, after_seq or None)
            page = await audit.window(event_log(f), cursor, limit)
            return listing(request, chronological(page.entries), page, limit)
        return JSONResponse(
            chronological(await audit.page(f.query(), after_seq=after_seq, limit=limit))
        )

    @router.get(
        "/events/stream",
        summary="Live audit entries as server-sent events",
        response_class=EventStream,
        responses={
            200: {
                "description": "`event: entry` messages, each an EventRow as JSON, by `id: seq`",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        },
    )
    async def stream(
        request: Request, f: Filt, after_seq: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0
    ) -> StreamingResponse:
        owner = stream_owner(request, sessions)
        if open_streams.get(owner, 0) >= max_streams:
            raise refused(
                429,
                f"at most {max_streams} live streams per session; close one first",
                f"เปิดการแสดงสดได้ไม่เกิน {max_streams} ช่องต่อการเข้าสู่ระบบ",
            )
        open_streams[owner] = open_streams.get(owner, 0) + 1

        async def counted() -> AsyncIterator[bytes]:
            try:
                async for chunk in live(request, audit, f.query(), after_seq, poll_seconds):
                    yield chunk
            finally:
                open_streams[owner] -= 1
                if open_streams[owner] <= 0:
                    del open_streams[owner]

        return StreamingResponse(
            counted(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.get(
        "/proposals/{proposal_id}/timeline",
        summary="Everything about one proposal",
        response_model=list[EventRow],
        responses={404: {"description": "Nothing recorded about this proposal"}},
    )
    async def timeline(proposal_id: str) -> JSONResponse:
        entries = await audit.page({"proposal_id": proposal_id}, limit=10_000)
        if not entries:
            return refusal_response(unknown_proposal(proposal_id))
        return JSONResponse(chronological(entries))

    @router.get(
        "/registry",
        summary="Certified areas, from CertificationAwarded events: the counts per province "
        "and status, and the areas (of `province`, or all while there are at most "
        f"{WHOLE_REGISTRY}; `areas_listed` says which)",
        response_model=Registry,
        responses={400: {"description": "Not a province"}},
    )
    async def get_registry(province: str | None = None) -> JSONResponse:
        try:
            return JSONResponse(await projections.registry(province or None, go_live))
        except ValueError as exc:
            raise HTTPRefusal(400, str(exc), str(exc)) from None

    @router.get(
        "/deliveries",
        summary="Emails sent, failed and held, newest first, a page at a time "
        "(neighbours in `Link`)",
        response_model=list[Delivery],
        responses={
            200: PAGED,
            400: {"description": "Both before_seq and after_seq, or a bad filter"},
        },
    )
    async def deliveries(
        request: Request,
        proposal: str | None = None,
        before_seq: BeforeSeq = None,
        after_seq: AfterSeq = None,
        limit: PageLimit = DEFAULT_PAGE,
    ) -> JSONResponse:
        page = await audit.window(
            deliveries_listing(proposal or None), cursor_of(before_seq, after_seq), limit
        )
        return listing(request, [delivery(e) for e in page.entries], page, limit)

    @router.get(
        "/deadletters",
        summary="Dead-letter records, newest first, a page at a time (neighbours in `Link`; "
        "`unique` with `error`: every match, one per original message)",
        response_model=list[DeadLetterView],
        responses={
            200: PAGED,
            400: {"description": "Both before_seq and after_seq, or a bad filter"},
        },
    )
    async def deadletters(
        request: Request,
        error: str | None = None,
        unique: bool = False,
        before_seq: BeforeSeq = None,
        after_seq: AfterSeq = None,
        limit: PageLimit = DEFAULT_PAGE,
    ) -> JSONResponse:
        if unique and error is not None:  # what `replay --all` replays: every match, once
            ids = await replayer.matching(error)
            entries = [e for e in [await audit.dead_letter(i) for i in ids] if e]
            replays = await audit.replays_of([e["dead_letter_id"] for e in entries])
            return JSONResponse(
                [dead_letter(e, replays.get(e["dead_letter_id"], [])) for e in entries]
            )
        page = await audit.window(
            dead_letters_listing(error or None), cursor_of(before_seq, after_seq), limit
        )
        replays = await audit.replays_of([e["dead_letter_id"] for e in page.entries])
        rows = [dead_letter(e, replays.get(e["dead_letter_id"], [])) for e in page.entries]
        return listing(request, rows, page, limit)

    @router.get(
        "/deadletters/{dead_letter_id}",
        summary="One dead-letter record",
        response_model=DeadLetterView,
        responses={404: {"description": "No such dead letter"}},
    )
    async def one_deadletter(dead_letter_id: str) -> JSONResponse:
        entry = await audit.dead_letter(dead_letter_id)
        if entry is None:
            raise not_found(f"dead letter {dead_letter_id}")
        replays = await audit.replays_of([dead_letter_id])
        return JSONResponse(dead_letter(entry, replays.get(dead_letter_id, [])))

    @router.post(
        "/deadletters/{dead_letter_id}/replay",
        summary="Re-publish the original message to its topic (operators only)",
        response_model=Replayed,
        responses={
            404: {"description": "No such dead letter"},
            409: {"description": "This dead letter cannot be replayed"},
        },
    )
    async def replay(
        dead_letter_id: str,
        caller: Operator,
        operator_name: Annotated[str | None, Query(max_length=100)] = None,
    ) -> JSONResponse:
        who = caller.agency_id + (f" ({operator_name})" if operator_name else "")
        try:
            result = await replayer.replay(dead_letter_id, who)
        except NotFound:
            raise not_found(f"dead letter {dead_letter_id}") from None
        if isinstance(result, Refusal):
            return refusal_response(result)
        return JSONResponse(
            {
                "replay_id": result.replay_id,
                "dead_letter_id": dead_letter_id,
                "topic": result.topic,
                "replayed_by": result.replayed_by,
                "at": result.at.isoformat(),
            }
        )

    @router.get(
        "/audit/entries",
        summary="Stored entries as they are, for verification",
        response_model=list[AuditEntry],
    )
    async def raw_entries(
        after_seq: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
        limit: Annotated[int, Query(ge=1, le=2000)] = 500,
    ) -> JSONResponse:
        return JSONResponse(await audit.page({}, after_seq=after_seq, limit=limit))

    @router.get(
        "/registry/signing-keys",
        summary="The agency registry's agencies and public signing keys (revoked ones too)",
        response_model=SigningKeys,
    )
    async def signing_keys() -> JSONResponse:
        state = agency_registry.state
        return JSONResponse(
            {
                "agencies": sorted(state.agencies),
                "signing_keys": [
                    {
                        "key_id": k.key_id,
                        "agency_id": k.agency_id,
                        "public_key": base64.b64encode(k.public_key).decode(),
                        "registered_at": k.registered_at.isoformat(),
                        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                    }
                    for k in state.signing_keys.values()
                ],
            }
        )

    @router.get(
        "/audit/head",
        summary="The chain head (last sequence number and hash)",
        response_model=ChainHead,
    )
    async def head() -> JSONResponse:
        h = await audit.head()
        return JSONResponse({"seq": h["seq"], "hash": h["hash"]})

    return router
