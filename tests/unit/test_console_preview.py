"""The dead-letter page's preview of a stored value (issue 24): any bytes, nested past any
recursion limit, huge, invalid UTF-8, with control and bidirectional characters, give a short
preview with nothing hidden in it; it never raises."""

from __future__ import annotations

import base64
import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from smartcity_th.services.console.views import PREVIEW_CHARS, preview, visible

HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def test_json_nested_past_the_recursion_limit_is_shown_as_text() -> None:
    for depth in (1_000, 10_000, 200_000):
        shown = preview(b64(b"[" * depth + b"1" + b"]" * depth))
        assert shown == "[" * PREVIEW_CHARS


def test_small_json_is_shown_compact_and_large_values_only_by_their_start() -> None:
    assert preview(b64(b'{"a":  [1,\n 2]}')) == '{"a": [1, 2]}'
    huge = b'{"x": "' + "ก".encode() * 400_000 + b'"}'
    assert preview(b64(huge)) == ('{"x": "' + "ก" * 400_000)[:PREVIEW_CHARS]


def test_control_and_bidi_characters_are_made_visible() -> None:
    assert preview(b64('"\u202eevil\u2066"'.encode())) == '"\\u202eevil\\u2066"'
    assert visible("a\x1b[31mb\u200f", "\ufffd") == "a\ufffd[31mb\ufffd"
    assert preview(b64(b"\xff\xfeok")) == "\ufffd\ufffdok"
    assert preview(None) == ""


@settings(max_examples=200)
@given(
    st.one_of(
        st.binary(max_size=2_000),
        st.recursive(
            st.one_of(st.none(), st.integers(), st.text(max_size=20)),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
        ).map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
        st.integers(500, 50_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    )
)
def test_any_value_gives_a_short_preview_with_nothing_hidden(value: bytes) -> None:
    shown = preview(b64(value))
    assert len(shown) <= 6 * PREVIEW_CHARS  # an escape is six characters
    assert HIDDEN.search(shown) is None
