"""`smartcity`: the operators' command line (Typer + Rich).

It reads through the console service's HTTP API (CONSOLE_URL; default from CONSOLE_HTTP_HOST and
CONSOLE_HTTP_PORT, http://127.0.0.1:8004)
rather than the console's database: the service owns its data and its queries (the web pages
use the same ones), the CLI works from any machine that can reach the API, and replays go
through the same authentication and audit record as the web console. `audit verify` fetches
the stored entries as they are and checks the chain here, in the client, so the check does not
trust the server's own verdict.

Every read command takes `--output json` (one JSON document; JSON lines for `events tail
--follow`). Text goes to a terminal as Rich tables; when stdout is not a terminal (a pipe, a
file) tables are printed as tab-separated lines, untruncated, so that nothing is cut to "Certif…".

Exit codes: 0 ok; 1 a check failed or something was not found; 2 bad arguments;
3 a server is unreachable; 4 authentication or permission refused.
"""

from __future__ import annotations

import getpass
import json
import os
import shlex
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from smartcity_th.contracts.proposals import ErrorResponse
from smartcity_th.services.common.cli_conventions import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Output,
    OutputOpt,
    fail,
    run,
)
from smartcity_th.services.common.kafka_cli import app as kafka_app
from smartcity_th.services.console.chain import Verifier
from smartcity_th.services.console.signatures import SignatureAudit, signing_keys_from
from smartcity_th.services.console.views import visible

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = (
    f"http://{os.environ.get('CONSOLE_HTTP_HOST', '127.0.0.1')}:"
    f"{os.environ.get('CONSOLE_HTTP_PORT', '8004')}"
)
"""The console's own address settings (CONSOLE_HTTP_HOST/PORT), unless CONSOLE_URL or --url."""


STAGE_STYLE = {
    "submitted": "bright_blue",
    "revision_requested": "yellow",
    "screened": "cyan",
    "subcommittee_approved": "green",
    "steering_acknowledged": "magenta",
    "cabinet_endorsed": "bright_magenta",
    "cabinet_returned": "yellow",
    "certified": "bold bright_green",
    "rejected": "bold red",
    "withdrawn": "bright_black",
}
KIND_STYLE = {"deadletter": "bold red", "raw": "red", "replay": "bold yellow", "claim": "italic"}

app = typer.Typer(
    name="smartcity",
    help="Smart City Thailand: operators' command line.",
    no_args_is_help=True,
    add_completion=True,
)
events_app = typer.Typer(help="The audit log of every topic.", no_args_is_help=True)
dead_app = typer.Typer(help="Dead letters: list, show, replay.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit chain.", no_args_is_help=True)
app.add_typer(events_app, name="events")
app.add_typer(dead_app, name="deadletters")
app.add_typer(audit_app, name="audit")
app.add_typer(kafka_app, name="kafka")

console = Console(highlight=False)

LimitOpt = Annotated[
    int, typer.Option("--limit", "-n", min=1, max=1000, help="How many per page (newest first)")
]
BeforeOpt = Annotated[
    int | None,
    typer.Option("--before", min=1, help="The page older than this sequence number (#)"),
]
AfterOpt = Annotated[
    int | None,
    typer.Option("--after", min=0, help="The page newer than this sequence number (#)"),
]
UrlOpt = Annotated[
    str, typer.Option("--url", envvar="CONSOLE_URL", help="The console service's base URL")
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="CONSOLE_API_KEY", help="Operator API key (depa or svc-console)"
    ),
]


def print_json(data: Any) -> None:
    """One JSON document on stdout (UTF-8, Thai as is)."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def print_json_line(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False))


def show_table(table: Table) -> None:
    """A Rich table on a terminal; tab-separated, untruncated lines elsewhere."""
    if console.is_terminal:
        console.print(table)
        return
    if table.title:
        typer.echo(f"# {table.title}")
    typer.echo("\t".join(str(c.header) for c in table.columns))
    cells = [[_plain(cell) for cell in column.cells] for column in table.columns]
    for values in zip(*cells, strict=True):
        typer.echo("\t".join(values))


def _plain(cell: Any) -> str:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return text.replace("\t", " ").replace("\n", " / ")


SHOWN_ON_A_TERMINAL = 5000
"""Characters of a dead letter's value `deadletters show` prints on a terminal."""


def show_line(text: Text) -> None:
    """One line of output, never wrapped or cut when it goes to a pipe or a file. On a
    terminal, control and bidirectional formatting characters (a record's bytes may hold
    escape sequences) are shown as U+FFFD, one for one, so the line's styles stay in place."""
    if console.is_terminal:
        safe = text.copy()
        safe.plain = visible(text.plain, "\ufffd")
        console.print(safe)
    else:
        typer.echo(text.plain)


class Api:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 15.0) -> None:
        self.url = url.rstrip("/")
        api_key = api_key or os.environ.get("CONSOLE_API_KEY")  # every call needs an operator
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def page(self, path: str, **params: Any) -> tuple[Any, dict[str, dict[str, str]]]:
        """A page of a list and its neighbours' parameters, from the `Link` header: `older`
        (rel="next") and `newer` (rel="prev")."""
        resp = self._send("GET", path, params={k: v for k, v in params.items() if v is not None})
        rels = {"next": "older", "prev": "newer"}
        return resp.json(), {
            rels[rel]: dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link["url"]).query))
            for rel, link in resp.links.items()
            if rel in rels
        }

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            fail(
                f"[red]console service unreachable at {self.url}[/red] ({type(exc).__name__})."
                f"\nStart it with [bold]smartcity up[/bold] or set CONSOLE_URL. "
                f"(เชื่อมต่อคอนโซลไม่ได้)",
                EXIT_UNREACHABLE,
            )
        if resp.status_code in (401, 403):
            fail(f"[red]refused ({resp.status_code}):[/red] {_reason(resp)}", EXIT_AUTH)
        if resp.status_code == 404:
            fail(f"[red]not found:[/red] {_reason(resp)}", EXIT_FAILED)
        if resp.status_code in (400, 422):
            fail(f"[red]bad request:[/red] {_reason(resp)}", EXIT_USAGE)
        if resp.status_code >= 500:
            fail(
                f"[red]console service error {resp.status_code}:[/red] {resp.text[:300]}",
                EXIT_UNREACHABLE,
            )
        if resp.status_code >= 400:  # 409: the console refused (e.g. an unsafe replay)
            fail(f"[red]refused ({resp.status_code}):[/red] {_reason(resp)}", EXIT_FAILED)
        return resp


def segment(value: str) -> str:
    """An id as one URL path segment: a dead letter's id is whatever its writer put there
    (slashes, control characters), and must reach the console as the id it is."""
    return urllib.parse.quote(value, safe="")


def _reason(resp: httpx.Response) -> str:
    """The reason of a refusal, from the one documented error body of every service."""
    try:
        refusal = ErrorResponse.model_validate_json(resp.content)
    except ValidationError:  # not one of ours (a proxy in between): show what came
        return resp.text[:300]
    return f"{refusal.error} / {refusal.error_th}"


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


@events_app.command("tail")
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
    pages: dict[str, dict[str, str]] = {}
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
        if "older" in pages:
            kept = {k: v for k, v in filters.items() if v}
            flags = " ".join(f"--{k} {shlex.quote(v)}" for k, v in kept.items())
            console.print(
                f"older / เก่ากว่า: smartcity events tail --before "
                f"{pages['older']['before_seq']} -n {lines} {flags}".rstrip(),
                soft_wrap=True,
            )
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


@app.command("timeline")
def timeline(proposal_id: str, url: UrlOpt = DEFAULT_URL, output: OutputOpt = Output.text) -> None:
    """Every event, decision, refusal, dead letter and email of one proposal, in order."""
    rows = Api(url).get(f"/api/proposals/{segment(proposal_id)}/timeline")
    if output is Output.json:
        print_json(rows)
        return
    show_table(_event_table(rows, title=f"timeline of {proposal_id} ({len(rows)} entries)"))


@app.command("registry")
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


@dead_app.command("list")
def dl_list(
    url: UrlOpt = DEFAULT_URL,
    error: Annotated[str | None, typer.Option(help="Error text contains")] = None,
    limit: LimitOpt = 50,
    before: BeforeOpt = None,
    after: AfterOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Dead-letter records, newest first, a page at a time (--before/--after: the next page)."""
    rows, pages = Api(url).page(
        "/api/deadletters", error=error, limit=limit, before_seq=before, after_seq=after
    )
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
    _more(pages, "smartcity deadletters list", error=error)


def _more(pages: dict[str, dict[str, str]], command: str, **kept: str | None) -> None:
    """Where the neighbouring pages are, as the commands that show them."""
    flags = " ".join(f"--{k} {shlex.quote(v)}" for k, v in kept.items() if v)
    for rel, flag, param in (
        ("older", "--before", "before_seq"),
        ("newer", "--after", "after_seq"),
    ):
        if rel in pages:
            limit = pages[rel].get("limit", "")
            console.print(
                f"{rel} / {'เก่ากว่า' if rel == 'older' else 'ใหม่กว่า'}: "
                f"{command} {flag} {pages[rel][param]} --limit {limit} {flags}".rstrip(),
                soft_wrap=True,
            )


@app.command("deliveries")
def deliveries(
    url: UrlOpt = DEFAULT_URL,
    proposal: Annotated[str | None, typer.Option(help="Only this proposal's emails")] = None,
    limit: LimitOpt = 50,
    before: BeforeOpt = None,
    after: AfterOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """The email delivery log (sent, failed, held for review), newest first, a page at a time."""
    rows, pages = Api(url).page(
        "/api/deliveries", proposal=proposal, limit=limit, before_seq=before, after_seq=after
    )
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
    _more(pages, "smartcity deliveries", proposal=proposal)


@dead_app.command("show")
def dl_show(
    dead_letter_id: str, url: UrlOpt = DEFAULT_URL, output: OutputOpt = Output.text
) -> None:
    """One dead letter with its original message and its replays."""
    import base64

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


@dead_app.command("replay")
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
    with _progress() as progress:
        task = progress.add_task("replaying", total=len(ids))
        for i in ids:
            done.append(
                api.call(
                    "POST", f"/api/deadletters/{segment(i)}/replay", params={"operator_name": who}
                )
            )
            progress.advance(task)
    for r in done:
        console.print(f"replayed {r['dead_letter_id']} to {r['topic']} by {r['replayed_by']}")
    console.print(f"[green]{len(done)} replayed[/green]")


def _progress(*, disable: bool = False) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=disable,
    )


@audit_app.command("verify")
def verify(
    url: UrlOpt = DEFAULT_URL,
    page: Annotated[int, typer.Option(help="Entries per request")] = 500,
    signatures: Annotated[
        bool,
        typer.Option(
            "--signatures",
            help="Also re-verify the signature of every stored claim and fact against the registry",
        ),
    ] = False,
    output: OutputOpt = Output.text,
) -> None:
    """Check both hash chains (global and per proposal); name the first broken link. With
    --signatures, re-verify every stored claim's and fact's signature too."""
    api = Api(url)
    head = api.get("/api/audit/head")
    verifier = Verifier()
    claims: SignatureAudit | None = None
    if signatures:
        registry_keys = api.get("/api/registry/signing-keys")
        claims = SignatureAudit(
            set(registry_keys["agencies"]), signing_keys_from(registry_keys["signing_keys"])
        )
    as_json = output is Output.json
    with _progress(disable=as_json) as progress:
        task = progress.add_task("verifying", total=head["seq"])
        after = 0
        while True:
            entries = api.get("/api/audit/entries", after_seq=after, limit=page)
            if not entries:
                break
            broken = verifier.feed(entries)
            if claims is not None:
                claims.feed(entries)
            progress.update(task, completed=min(verifier.checked, head["seq"]))
            if broken:
                break
            after = entries[-1]["seq"]
    if as_json:
        intact = (
            not verifier.broken
            and verifier.last_seq == head["seq"]
            and (verifier.last_hash == head["hash"])
        )
        print_json(
            {
                "intact": intact,
                "checked": verifier.checked,
                "proposal_chains": len(verifier.proposal_heads),
                "first_broken_link": verifier.broken or None,
                "head": {"seq": head["seq"], "hash": head["hash"]},
                "log_ends_at": verifier.last_seq,
                "signatures": None
                if claims is None
                else {
                    "verified": claims.verified,
                    "refused": dict(claims.refused),
                    "facts": {
                        "verified": claims.facts.verified,
                        "before_cut_over": claims.facts.before_cut_over,
                        "refused": dict(claims.facts.refused),
                        "not_kept_whole": claims.facts.not_kept_whole,
                    },
                    "unexplained": sorted(claims.unexplained()),
                },
            }
        )
        if not intact or (claims is not None and claims.unexplained()):
            raise typer.Exit(EXIT_FAILED)
        return
    if verifier.broken:
        fail(
            f"[bold red]BROKEN[/bold red] first broken link: {verifier.broken} "
            f"(after {verifier.checked - 1} good entries)",
            EXIT_FAILED,
        )
    if verifier.last_seq < head["seq"] or (
        verifier.last_seq == head["seq"] and verifier.last_hash != head["hash"]
    ):
        fail(
            f"[bold red]BROKEN[/bold red] the head says entry #{head['seq']} "
            f"but the log ends at #{verifier.last_seq} (entries deleted?)",
            EXIT_FAILED,
        )
    chains = len(verifier.proposal_heads)
    console.print(
        f"[green]audit chain intact[/green]: {verifier.checked} entries, "
        f"{chains} proposal chains, head {verifier.last_hash[:16]}…"
    )
    if claims is not None:
        _report_signatures(claims)


def _report_signatures(claims: SignatureAudit) -> None:
    refused = ", ".join(f"{reason} {n}" for reason, n in sorted(claims.refused.items()))
    console.print(
        f"claims: [green]{claims.verified} signatures verified[/green]; "
        f"{sum(claims.refused.values())} do not verify ({refused or 'none'}), "
        f"{len(claims.failing) - len(claims.unexplained())} of them (claims and facts) "
        "refused by a service"
    )
    facts = claims.facts
    refused_facts = ", ".join(f"{reason} {n}" for reason, n in sorted(facts.refused.items()))
    console.print(
        f"facts: [green]{facts.verified} signatures verified[/green]; "
        f"{facts.before_cut_over} unsigned from before their owner's first key; "
        f"{sum(facts.refused.values())} do not verify ({refused_facts or 'none'}); "
        f"{facts.not_kept_whole} recorded before the log kept facts whole (not verifiable)"
    )
    unexplained = claims.unexplained()
    if unexplained:
        for event_id, (seq, reason) in sorted(unexplained.items(), key=lambda kv: kv[1])[:20]:
            what = "fact" if reason.startswith("fact ") else "claim"
            console.print(f"  entry #{seq} {what} {event_id}: {reason.removeprefix('fact ')}")
        fail(
            f"[bold red]UNVERIFIED[/bold red] {len(unexplained)} stored claims or facts were "
            "not refused by any service but their signatures do not verify now (a forged fact "
            "no consumer read; revoked_key: accepted while a revocation was reaching the "
            "services, or recorded late)",
            EXIT_FAILED,
        )


@app.command("pipeline")
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


@app.command("lag")
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


@app.command("trace")
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


def _make(target: str) -> None:
    if not (ROOT / "Makefile").exists():
        fail(f"no Makefile at {ROOT}: run from a source checkout", EXIT_USAGE)
    try:
        code = subprocess.run(["make", "-C", str(ROOT), target], check=False).returncode
    except FileNotFoundError:
        fail("`make` is not installed", EXIT_USAGE)
    if code:
        fail(f"make {target} failed with exit code {code}", EXIT_UNREACHABLE)


@app.command("up")
def up() -> None:
    """Start Kafka, FerretDB, Mailpit and every service, the console included (make up)."""
    _make("up")


@app.command("down")
def down() -> None:
    """Stop the services and the servers (make down)."""
    _make("down")


@app.command("status")
def status() -> None:
    """Show which servers and services run (make status)."""
    _make("status")


@app.command("demo")
def demo(reset: bool = typer.Option(False, "--reset", help="Delete the demo data first")) -> None:
    """Replay the 2022 certification round through the whole stack (make demo)."""
    if reset:
        os.environ["DEMO_ARGS"] = "--reset"
    _make("demo")


def main() -> None:
    run(app, "smartcity")
