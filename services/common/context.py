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

refusals_noted: ContextVar[list[str] | None] = ContextVar("refusals_noted", default=None)
"""Set by the claim gate while a claim is handled: a handler that refuses part of a claim without
dead-lettering it (a decision about a proposal that does not exist, answered by a refusal event)
notes why here, so that the claim's id is remembered as refused all the same."""


def note_refusal(reason: str) -> None:
    """Note that the claim being handled was refused (in part); outside a claim, nothing."""
    noted = refusals_noted.get()
    if noted is not None:
        noted.append(reason)
