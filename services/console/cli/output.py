"""How the CLI prints: one JSON document (or JSON lines), Rich tables on a terminal and
tab-separated, untruncated lines elsewhere, one line at a time with nothing hidden in it, the
colours of stages and entry kinds, and the progress bar of a long run."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from smartcity_th.services.console.views import visible

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

console = Console(highlight=False)


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


def progress(*, disable: bool = False) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=disable,
    )
