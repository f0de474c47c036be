"""`deadletters list|show|replay` and `deliveries`: what the services could not process, put
back on its topic by an operator, and the log of every email."""

from __future__ import annotations

import base64
import getpass
import json
import os
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from smartcity_th.services.common.cli_conventions import (
    EXIT_AUTH,
    EXIT_USAGE,
    Output,
    OutputOpt,
    fail,
)
from smartcity_th.services.console.cli.api import DEFAULT_URL, Api, KeyOpt, UrlOpt, segment
from smartcity_th.services.console.cli.output import (
    console,
    print_json,
    progress,
    show_line,
    show_table,
)
from smartcity_th.services.console.cli.pages import (
    AfterOpt,
    BeforeOpt,
    LimitOpt,
    read_page,
    show_more,
)
from smartcity_th.services.console.views import visible

SHOWN_ON_A_TERMINAL = 5000
"""Characters of a dead letter's value `deadletters show` prints on a terminal."""


def dl_list(
    url: UrlOpt = DEFAULT_URL,
    error: Annotated[str | None, typer.Option(help="Error text contains")] = None,
    limit: LimitOpt = 50,
    before: BeforeOpt = None,
    after: AfterOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Dead-letter records, newest first, a page at a time (--before/--after: the next page)."""
    rows, pages = read_page(url, "/api/deadletters", limit, before, after, error=error)
    if output is Output.json:
        print_json(rows)
        return
    table = Table("#", "when", "consumer", "topic:partition:offset", "kind", "error", "proposal")
    table.add_column("replays")
    table.add_column("id", no_wrap=True, min_width=36)
    for d in rows:
        table.add_row(
            str(d["seq"]),
            (d["at"] or "")[:19],
            d["consumer"],
            f"{d['topic']}:{d['partition']}:{d['offset']}",
            d["error_kind"],
            Text(d["error"] or "", style="red"),
            d["proposal_id"] or "",
            str(len(d["replays"])),
            d["dead_letter_id"],
        )
    show_table(table)
    console.print(f"{len(rows)} dead letters")
    show_more(pages, "smartcity deadletters list", f"--limit {limit}", {"error": error})


def deliveries(
    url: UrlOpt = DEFAULT_URL,
    proposal: Annotated[str | None, typer.Option(help="Only this proposal's emails")] = None,
    limit: LimitOpt = 50,
    before: BeforeOpt = None,
    after: AfterOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """The email delivery log (sent, failed, held for review), newest first, a page at a time."""
    rows, pages = read_page(url, "/api/deliveries", limit, before, after, proposal=proposal)
    if output is Output.json:
        print_json(rows)
        return
    table = Table("#", "when", "status", "recipient", "about", "proposal", "attempts", "error")
    for d in rows:
        table.add_row(
            str(d["seq"]),
            (d["at"] or "")[:19],
            Text(d["status"], style="green" if d["status"] == "sent" else "red"),
            d["recipient_email"] or d["recipient_id"] or "",
            d["about_event_type"] or "",
            d["proposal_id"] or "",
            str(d["attempts"] if d["attempts"] is not None else ""),
            Text(d["error"] or "", style="red"),
        )
    show_table(table)
    console.print(f"{len(rows)} emails")
    show_more(pages, "smartcity deliveries", f"--limit {limit}", {"proposal": proposal})


def dl_show(
    dead_letter_id: str, url: UrlOpt = DEFAULT_URL, output: OutputOpt = Output.text
) -> None:
    """One dead letter with its original message and its replays."""
    d = Api(url).get(f"/api/deadletters/{segment(dead_letter_id)}")
    if output is Output.json:
        print_json(d)
        return
    for k in (
        "dead_letter_id",
        "consumer",
        "topic",
        "partition",
        "offset",
        "error_kind",
        "error",
        "event_type",
        "event_id",
        "attempts",
        "at",
        "proposal_id",
    ):
        show_line(Text.assemble((k, "bold"), f": {d[k]}"))
    show_line(
        Text.assemble(("headers", "bold"), f": {json.dumps(d['headers'], ensure_ascii=False)}")
    )
    value = base64.b64decode(d["value_b64"]).decode("utf-8", errors="replace")
    show_line(Text.assemble(("original value", "bold"), ":"))
    if console.is_terminal and len(value) > SHOWN_ON_A_TERMINAL:
        # A person at a terminal sees the start; a pipe or a file gets every character.
        console.print(visible(value[:SHOWN_ON_A_TERMINAL], "\ufffd"), markup=False)
        console.print(
            f"… {len(value) - SHOWN_ON_A_TERMINAL} more characters (pipe the output, or use "
            "--output json, for all of it)"
        )
    else:
        show_line(Text(value))
    for r in d["replays"]:
        show_line(Text(f"replayed by {r['replayed_by']} at {r['at']}"))


def dl_replay(
    dead_letter_id: Annotated[str | None, typer.Argument(help="The dead letter to replay")] = None,
    url: UrlOpt = DEFAULT_URL,
    api_key: KeyOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every match of --error")] = False,
    error: Annotated[str | None, typer.Option(help="With --all: error text contains")] = None,
    operator: Annotated[
        str | None, typer.Option(help="Your name, recorded with the replay")
    ] = None,
) -> None:
    """Re-publish the original bytes, key and headers to the original topic (recorded with who
    and when). Replaying something already processed changes nothing: the services are
    idempotent."""
    if not api_key:
        fail("an operator API key is required: --api-key or CONSOLE_API_KEY", EXIT_AUTH)
    if (dead_letter_id is None) == (not all_):
        fail("give a dead-letter id, or --all --error TEXT", EXIT_USAGE)
    if all_ and not error:
        fail("--all needs --error TEXT (what the errors to replay contain)", EXIT_USAGE)
    api = Api(url, api_key)
    ids = (
        [dead_letter_id]
        if dead_letter_id
        else [d["dead_letter_id"] for d in api.get("/api/deadletters", error=error, unique=True)]
    )
    if not ids:
        console.print(f"no dead letters match {error!r}")
        return
    who = operator or os.environ.get("USER") or getpass.getuser()
    done: list[dict[str, Any]] = []
    with progress() as bar:
        task = bar.add_task("replaying", total=len(ids))
        for i in ids:
            done.append(
                api.call(
                    "POST", f"/api/deadletters/{segment(i)}/replay", params={"operator_name": who}
                )
            )
            bar.advance(task)
    for r in done:
        console.print(f"replayed {r['dead_letter_id']} to {r['topic']} by {r['replayed_by']}")
    console.print(f"[green]{len(done)} replayed[/green]")
