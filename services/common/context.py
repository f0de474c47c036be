"""The record being processed, for handlers that must point back at it (e.g. dead letters)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    topic: str
    partition: int
    offset: int


current_source: ContextVar[Source | None] = ContextVar("current_source", default=None)

authenticated_by: ContextVar[str | None] = ContextVar("authenticated_by", default=None)
"""Which credential authenticated the request or claim being handled: `api-key:<key id>` or
`signature:<signing key id>`; events it causes carry it in the `smartcity-authenticated-by`
header."""
