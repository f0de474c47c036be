"""`pipeline`, `lag` and `trace`: how the work flows now: proposals per stage, the consumers'
lag, and where a proposal's traces are."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from smartcity_th.services.common.cli_conventions import EXIT_FAILED, Output, OutputOpt, fail
from smartcity_th.services.console.cli.api import DEFAULT_URL, Api, UrlOpt, segment
from smartcity_th.services.console.cli.output import STAGE_STYLE, console, print_json, show_table


def pipeline(
    url: UrlOpt = DEFAULT_URL,
    output: OutputOpt = Output.text,
    stage: Annotated[
        str | None, typer.Option(help="List one stage's proposals, a page at a time")
    ] = None,
    page: Annotated[int | None, typer.Option(help="The page of --stage (from 0)")] = None,
) -> None:
    """How many proposals are at each stage now, the longest wait, and how many are overdue."""
    if stage is not None:
        _lane(Api(url).get(f"/api/pipeline/{segment(stage)}", page=page), output)
        return
    p = Api(url).get("/api/pipeline")
    if output is Output.json:
        print_json(p)
        return
    table = Table(
        "stage", "ขั้นตอน", "proposals", "overdue", "longest wait", title="pipeline / สถานะงาน"
    )
    for s in p["stages"]:
        table.add_row(
            Text(s["en"], style=STAGE_STYLE.get(s["stage"], "")),
            s["th"],
            str(s["count"]),
            Text(str(s["overdue"]), style="bold red" if s["overdue"] else ""),
            (s["longest"] or {}).get("en", "") if not s["terminal"] else "",
        )
    show_table(table)
    console.print(f"{p['total']} proposals, {p['overdue']} overdue / เกินกำหนด {p['overdue']}")


def _lane(lane: dict[str, Any], output: Output) -> None:
    """One page of a stage's proposals, and the command for the next page."""
    if output is Output.json:
        print_json(lane)
        return
    table = Table(
        "proposal",
        "area",
        "province",
        "waited",
        "due",
        title=f"{lane['en']} / {lane['th']}: page {lane['page'] + 1} of {max(lane['pages'], 1)}",
    )
    for i in lane["proposals"]:
        due = i["due"] or {}
        table.add_row(
            i["proposal_id"],
            f"{i['area_th']}\n{i['area_en']}",
            i["province_th"],
            (i["waited"] or {}).get("en", ""),
            Text(
                f"{due.get('date') or ''}{' overdue' if i['overdue'] else ''}",
                style="bold red" if i["overdue"] else "",
            ),
        )
    show_table(table)
    if lane["next_page"] is not None:
        console.print(
            f"next / ถัดไป: smartcity pipeline --stage {lane['stage']} --page {lane['next_page']}",
            soft_wrap=True,
        )


def lag(url: UrlOpt = DEFAULT_URL, output: OutputOpt = Output.text) -> None:
    """Consumer lag per group (and per partition): records not yet consumed."""
    rows = Api(url).get("/api/lag")
    if output is Output.json:
        print_json(rows)
        return
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["group"]] = totals.get(r["group"], 0) + int(r["lag"])
    table = Table("group", "total lag", "partitions behind", title="consumer lag")
    for group, total in sorted(totals.items()):
        behind = [
            f"{r['topic']}:{r['partition']}={r['lag']}"
            for r in rows
            if r["group"] == group and r["lag"]
        ]
        table.add_row(
            group, Text(str(total), style="bold red" if total else "green"), ", ".join(behind)
        )
    show_table(table)


def trace(
    proposal_id: str,
    url: UrlOpt = DEFAULT_URL,
    all_: Annotated[bool, typer.Option("--all", help="Every trace of the proposal")] = False,
    output: OutputOpt = Output.text,
) -> None:
    """The address (in Jaeger) of the trace of a proposal's submission; --all: of every trace
    its events belong to (each decision request starts its own)."""
    traces = Api(url).get(f"/api/proposals/{segment(proposal_id)}/traces")
    if not traces:
        fail(f"no traced events for {proposal_id} (is tracing on?)", EXIT_FAILED)
    chosen = traces if all_ else traces[:1]
    if output is Output.json:
        print_json(chosen if all_ else chosen[0])
        return
    for t in chosen:
        typer.echo(t["url"] if not all_ else f"{t['url']}\t{' '.join(t['events'])}")
