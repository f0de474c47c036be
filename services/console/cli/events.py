"""`events tail`, `timeline` and `registry`: the audit log as it grows, one proposal's story,
and the certified areas."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from smartcity_th.services.common.cli_conventions import EXIT_USAGE, Output, OutputOpt, fail
from smartcity_th.services.console.cli.api import DEFAULT_URL, Api, Pages, UrlOpt, segment
from smartcity_th.services.console.cli.output import (
    KIND_STYLE,
    STAGE_STYLE,
    console,
    print_json,
    print_json_line,
    show_line,
    show_table,
)
from smartcity_th.services.console.cli.pages import show_more


def _styled(r: dict[str, Any]) -> Text:
    style = KIND_STYLE.get(r["kind"]) or STAGE_STYLE.get(r.get("stage") or "", "white")
    name = r.get("event_name")
    if not name:
        return Text(r.get("event_type") or r["kind"], style=style)
    text = Text(f"{name['th']} / {name['en']} ", style=style)
    text.append(r.get("event_type") or "", style="dim")
    return text


def _stage(r: dict[str, Any]) -> Text:
    name = r.get("stage_name")
    label = f"{name['th']} / {name['en']}" if name else (r.get("stage") or "")
    return Text(label, style=STAGE_STYLE.get(r.get("stage") or "", ""))


def _when(r: dict[str, Any]) -> str:
    """The date of the decision where there is one, then when it was recorded."""
    recorded = (r.get("occurred_at") or r.get("recorded_at") or "")[:19]
    return f"{r['decided_on']} ({recorded})" if r.get("decided_on") else recorded


def _event_table(rows: list[dict[str, Any]], title: str | None = None) -> Table:
    table = Table(
        "#",
        "decided on (recorded, UTC)",
        "event",
        "stage",
        "proposal",
        "producer",
        "province",
        "details",
        title=title,
        show_lines=False,
    )
    for r in rows:
        table.add_row(
            str(r["seq"]),
            _when(r),
            _styled(r),
            _stage(r),
            r.get("proposal_id") or "",
            r.get("producer") or "",
            r.get("province") or "",
            r.get("summary") or "",
        )
    return table


def _line(r: dict[str, Any]) -> Text:
    text = Text(f"{r['seq']:>6} {_when(r)} ")
    text.append_text(_styled(r))
    if r.get("stage"):
        text.append(" [")
        text.append_text(_stage(r))
        text.append("]")
    text.append(f" {r.get('proposal_id') or '-'} {r.get('producer') or ''} ")
    text.append(r.get("summary") or "", style="dim" if r["kind"] == "event" else "red")
    return text


def tail(
    url: UrlOpt = DEFAULT_URL,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events")
    ] = False,
    proposal: Annotated[str | None, typer.Option(help="Only this proposal")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only this event type")] = None,
    producer: Annotated[str | None, typer.Option(help="Only this producer (agency id)")] = None,
    since: Annotated[str | None, typer.Option(help="10m, 2h, 1d or an ISO time")] = None,
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many to show first")] = 50,
    before: Annotated[
        int | None,
        typer.Option("--before", min=1, help="Those older than this sequence number (#)"),
    ] = None,
    interval: Annotated[float, typer.Option(help="Seconds between polls with --follow")] = 1.0,
    max_seconds: Annotated[float | None, typer.Option(hidden=True)] = None,
    output: OutputOpt = Output.text,
) -> None:
    """Print the latest events (colour by stage); --follow keeps printing new ones
    (with --output json: one JSON document, or one JSON line per event with --follow)."""
    api = Api(url)
    filters = {"proposal": proposal, "type": type_, "producer": producer, "since": since}
    if follow and before is not None:
        fail("--before shows an older page; it does not combine with --follow", EXIT_USAGE)
    rows: list[dict[str, Any]] = []
    pages: Pages = {}
    if lines > 0:
        found, pages = api.page(
            "/api/events", newest=True, limit=min(lines, 1000), before_seq=before, **filters
        )
        rows = list(reversed(found))
    last = max([r["seq"] for r in rows], default=0)
    as_json = output is Output.json

    def emit(r: dict[str, Any]) -> None:
        if as_json:
            print_json_line(r)
        else:
            show_line(_line(r))

    if not follow:
        if as_json:
            print_json(rows)
            return
        if not rows:
            console.print("no events match / ไม่มีเหตุการณ์ตรงตามเงื่อนไข")
        for r in rows:
            emit(r)
        show_more(pages, "smartcity events tail", f"-n {lines}", filters, newer=False)
        return
    if not rows:
        last = int(api.get("/api/audit/head")["seq"])
    for r in rows:
        emit(r)
    started = time.monotonic()
    try:
        while max_seconds is None or time.monotonic() - started < max_seconds:
            for r in api.get("/api/events", after_seq=last, limit=500, **filters):
                emit(r)
                last = r["seq"]
            time.sleep(interval)
    except KeyboardInterrupt:
        pass


def timeline(proposal_id: str, url: UrlOpt = DEFAULT_URL, output: OutputOpt = Output.text) -> None:
    """Every event, decision, refusal, dead letter and email of one proposal, in order."""
    rows = Api(url).get(f"/api/proposals/{segment(proposal_id)}/timeline")
    if output is Output.json:
        print_json(rows)
        return
    show_table(_event_table(rows, title=f"timeline of {proposal_id} ({len(rows)} entries)"))


def registry(
    url: UrlOpt = DEFAULT_URL,
    province: Annotated[str | None, typer.Option(help="Code or name")] = None,
    output: OutputOpt = Output.text,
) -> None:
    """Certified areas (from CertificationAwarded events) with counts per province."""
    reg = Api(url).get("/api/registry", province=province)
    if output is Output.json:
        print_json(reg)
        return
    table = Table(
        "certificate",
        "area",
        "province",
        "meeting",
        "deliver by",
        "status",
        title="ทะเบียนเมืองอัจฉริยะ / certified smart-city areas",
    )
    for a in reg["areas"]:
        table.add_row(
            a["certificate_number"],
            f"{a['area_th']}\n{a['area_en']}",
            f"{a['province_th']} ({a['province_en']})",
            a["meeting"],
            a["deliver_by"],
            f"{a.get('status_th', '')}\n{a.get('status_en', '')}",
        )
    show_table(table)
    top = max([p["areas"] for p in reg["by_province"]], default=1)
    for p in reg["by_province"]:
        bar = "█" * max(1, round(30 * p["areas"] / top))
        console.print(f"{p['province_th']:<18} {bar} {p['areas']}")
    console.print(
        f"[bold]{reg['area_count']} areas in {reg['province_count']} provinces[/bold]"
        f" / {reg['area_count']} พื้นที่ใน {reg['province_count']} จังหวัด"
    )
    counts = ", ".join(f"{k} {v}" for k, v in reg.get("by_status", {}).items())
    console.print(f"status as of {reg.get('as_of')} / สถานะ ณ วันที่ {reg.get('as_of')}: {counts}")
    if not reg.get("areas_listed", True):
        console.print("too many areas to list at once: add --province P / เลือกจังหวัดเพื่อดูรายการ")
