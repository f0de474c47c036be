"""Keyset pages of the console's newest-first lists (event log, delivery log, dead letters):
pure, no I/O.

A page is named by a sequence number, never by an offset: `before_seq=N` is the page of entries
just older than entry N, `after_seq=N` the page just newer. The store answers either with a
query or two on an indexed block number whatever the page's depth, and a page stays the same
page while new entries are appended. Each page says where the next older and the next newer
page start.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_PAGE = 100
MAX_PAGE = 1000
BLOCK = 100
"""Entries per block: each entry stores its block (`block`: of the whole log; `list_page`: of
its list), so that a page is read with equality queries on indexed fields only. FerretDB 1.24
hands a store's equality filters to PostgreSQL, where they use the GIN twins of the indexes
(docs/architecture.md), but sorts, limits and ranges it applies itself, after reading every
matching document: a `seq < N` page of a million entries would read all of them."""
MAX_BLOCKS = 50
"""Blocks one page may read when a filter (a dead letter's error text) matches little: the page
then ends early and says where the next one goes on."""


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: older than `before`, newer than `after`, or (neither) the newest."""

    before: int | None = None
    after: int | None = None

    @classmethod
    def of(cls, before_seq: int | None, after_seq: int | None) -> Cursor:
        if before_seq is not None and after_seq is not None:
            raise BadCursor("give before_seq or after_seq, not both")
        return cls(before=before_seq, after=after_seq)


@dataclass(frozen=True)
class Window:
    """One page, newest first, with the cursors of its neighbours (None: there is none)."""

    entries: list[dict[str, Any]]
    older: int | None
    newer: int | None


def block_of(n: int) -> int:
    """The block of the entry numbered `n` in its list (the whole log: its sequence number)."""
    return n // BLOCK


def list_page(name: str, block: int) -> str:
    """The key of one block of a list (`email:812`): one equality on one indexed field, since
    PostgreSQL, without statistics on these expressions, may pick the index of a second
    equality that matches half the log (`list = "email"`) and filter a block out of it."""
    return f"{name}:{block}"


def window_of(
    entries: Sequence[Mapping[str, Any]],
    cursor: Cursor,
    limit: int,
    *,
    more: bool,
    resume: int | None = None,
) -> Window:
    """The page of `entries` (newest first, at most `limit`) read at `cursor`; `more` says that
    the store held another entry beyond them in the direction read. `resume`: the reading
    stopped at this sequence number before the page was full (a filter that matched little in
    the blocks a page may read), and the next page in that direction goes on from there."""
    rows = [dict(e) for e in entries[:limit]]
    if resume is not None:
        if cursor.after is not None:
            older = None
            if cursor.after > 0:
                older = int(rows[-1]["seq"]) if rows else cursor.after + 1
            return Window(rows, older=older, newer=resume)
        newer = int(rows[0]["seq"]) if rows and cursor.before else None
        return Window(rows, older=resume, newer=newer)
    if not rows:
        # An empty page still leads back to where it was reached from.
        return Window(
            [],
            older=cursor.after + 1 if cursor.after else None,
            newer=cursor.before - 1 if cursor.before is not None and cursor.before > 1 else None,
        )
    newest, oldest = int(rows[0]["seq"]), int(rows[-1]["seq"])
    if cursor.after is not None:
        return Window(
            rows, older=oldest if cursor.after > 0 else None, newer=newest if more else None
        )
    return Window(rows, older=oldest if more else None, newer=newest if cursor.before else None)


def page_params(window: Window, limit: int) -> dict[str, dict[str, str]]:
    """The query parameters of the neighbouring pages: `older` and `newer`, where they exist."""
    out: dict[str, dict[str, str]] = {}
    if window.older is not None:
        out["older"] = {"before_seq": str(window.older), "limit": str(limit)}
    if window.newer is not None:
        out["newer"] = {"after_seq": str(window.newer), "limit": str(limit)}
    return out


def page_links(path: str, params: Mapping[str, str], window: Window, limit: int) -> dict[str, str]:
    """Addresses of the neighbouring pages, keeping the list's other parameters (filters)."""
    kept = {k: v for k, v in params.items() if k not in ("before_seq", "after_seq", "limit")}
    return {
        rel: f"{path}?{urllib.parse.urlencode({**kept, **p})}"
        for rel, p in page_params(window, limit).items()
    }


def link_header(path: str, params: Mapping[str, str], window: Window, limit: int) -> str | None:
    """An RFC 8288 `Link` header for a JSON list: rel="next" the older page, rel="prev" the
    newer one (the body stays the plain list it always was)."""
    rels = {"older": "next", "newer": "prev"}
    links = page_links(path, params, window, limit)
    return ", ".join(f'<{url}>; rel="{rels[k]}"' for k, url in links.items()) or None
