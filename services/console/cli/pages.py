"""The lists the CLI shows a page at a time, newest first (`deadletters list`, `deliveries`;
`events tail` has its own `-n` and `--before`): one definition of their paging options, of the
read of a page, and of the hint naming the commands that show the neighbouring pages."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from smartcity_th.services.console.cli.api import Api, Pages
from smartcity_th.services.console.cli.output import console

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

NEIGHBOURS = (
    ("older", "เก่ากว่า", "--before", "before_seq"),
    ("newer", "ใหม่กว่า", "--after", "after_seq"),
)


def read_page(
    url: str, path: str, limit: int, before: int | None, after: int | None, **filters: Any
) -> tuple[Any, Pages]:
    """One page of the list at `path` (with its filters) and where its neighbours are."""
    return Api(url).page(path, **filters, limit=limit, before_seq=before, after_seq=after)


def show_more(
    pages: Pages,
    command: str,
    size: str,
    kept: Mapping[str, str | None],
    *,
    newer: bool = True,
) -> None:
    """Where the neighbouring pages are, as the commands that show them: `command`, the cursor,
    the page `size` option and the `kept` filters (`newer=False`: only the older page)."""
    flags = " ".join(f"--{k} {shlex.quote(v)}" for k, v in kept.items() if v)
    for rel, thai, flag, param in NEIGHBOURS:
        if rel in pages and (newer or rel == "older"):
            console.print(
                f"{rel} / {thai}: {command} {flag} {pages[rel][param]} {size} {flags}".rstrip(),
                soft_wrap=True,
            )
