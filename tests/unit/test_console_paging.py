"""Keyset pages of the console's lists (services/console/paging.py): pure, no I/O."""

from __future__ import annotations

import urllib.parse

import pytest

from smartcity_th.services.console.paging import (
    BadCursor,
    Cursor,
    block_of,
    link_header,
    page_links,
    window_of,
)


def entries(*seqs: int) -> list[dict[str, int]]:
    return [{"seq": s} for s in seqs]


def test_the_newest_page_leads_only_to_older_entries() -> None:
    page = window_of(entries(100, 99, 98), Cursor(), 3, more=True)
    assert [e["seq"] for e in page.entries] == [100, 99, 98]
    assert (page.older, page.newer) == (98, None)


def test_the_last_page_leads_only_back() -> None:
    page = window_of(entries(2, 1), Cursor(before=3), 3, more=False)
    assert (page.older, page.newer) == (None, 2)


def test_a_page_read_forwards_leads_both_ways_while_more_follow() -> None:
    page = window_of(entries(53, 52, 51), Cursor(after=50), 3, more=True)
    assert (page.older, page.newer) == (51, 53)
    newest = window_of(entries(53, 52, 51), Cursor(after=50), 3, more=False)
    assert (newest.older, newest.newer) == (51, None)


def test_an_empty_page_leads_back_to_where_it_was_reached_from() -> None:
    assert (window_of([], Cursor(before=10), 5, more=False).newer) == 9
    assert (window_of([], Cursor(after=10), 5, more=False).older) == 11
    nothing = window_of([], Cursor(), 5, more=False)
    assert (nothing.older, nothing.newer) == (None, None)


def test_a_cursor_names_one_direction() -> None:
    with pytest.raises(BadCursor):
        Cursor.of(before_seq=5, after_seq=3)
    assert Cursor.of(None, None) == Cursor()


def test_links_keep_the_filters_and_replace_the_cursor() -> None:
    page = window_of(entries(40, 39), Cursor(before=41), 2, more=True)
    links = page_links("/deadletters", {"error": "not JSON", "before_seq": "41"}, page, 2)
    older = urllib.parse.parse_qs(urllib.parse.urlsplit(links["older"]).query)
    newer = urllib.parse.parse_qs(urllib.parse.urlsplit(links["newer"]).query)
    assert older == {"error": ["not JSON"], "before_seq": ["39"], "limit": ["2"]}
    assert newer == {"error": ["not JSON"], "after_seq": ["40"], "limit": ["2"]}


def test_the_link_header_names_older_next_and_newer_prev() -> None:
    page = window_of(entries(40, 39), Cursor(before=41), 2, more=True)
    header = link_header("/api/deliveries", {}, page, 2)
    assert header == (
        '</api/deliveries?before_seq=39&limit=2>; rel="next", '
        '</api/deliveries?after_seq=40&limit=2>; rel="prev"'
    )
    assert link_header("/api/deliveries", {}, window_of([], Cursor(), 2, more=False), 2) is None


def test_a_page_that_stopped_early_goes_on_from_where_it_stopped() -> None:
    """A filter that matched little in the blocks a page may read: the page is short, and
    the next one starts where the reading stopped, not after the last row shown."""
    short = window_of(entries(90), Cursor(), 5, more=False, resume=40)
    assert (short.older, short.newer) == (40, None)
    empty = window_of([], Cursor(before=500), 5, more=False, resume=300)
    assert (empty.older, empty.newer) == (300, None)
    forwards = window_of(entries(12), Cursor(after=10), 5, more=False, resume=60)
    assert (forwards.older, forwards.newer) == (12, 60)


def test_blocks_group_a_hundred_numbers() -> None:
    assert [block_of(n) for n in (0, 1, 99, 100, 199, 200)] == [0, 0, 0, 1, 1, 2]
