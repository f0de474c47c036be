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

One module per job: `api` (the client of the console's API and what its refusals become),
`output` (tables, JSON, lines), `pages` (the paged lists' options and hints), and the commands:
`events`, `deadletters`, `audit`, `pipeline`, `stack`. The command tree is here, in one place.
"""

from __future__ import annotations

import typer

from smartcity_th.services.common.cli_conventions import run
from smartcity_th.services.common.kafka_cli import app as kafka_app
from smartcity_th.services.console.cli import audit, deadletters, events, pipeline, stack

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

events_app.command("tail")(events.tail)
app.command("timeline")(events.timeline)
app.command("registry")(events.registry)
dead_app.command("list")(deadletters.dl_list)
app.command("deliveries")(deadletters.deliveries)
dead_app.command("show")(deadletters.dl_show)
dead_app.command("replay")(deadletters.dl_replay)
audit_app.command("verify")(audit.verify)
app.command("pipeline")(pipeline.pipeline)
app.command("lag")(pipeline.lag)
app.command("trace")(pipeline.trace)
app.command("up")(stack.up)
app.command("down")(stack.down)
app.command("status")(stack.status)
app.command("demo")(stack.demo)


def main() -> None:
    run(app, "smartcity")
