"""The one refusal model: why something is not done, as a kind from a closed set, a reason in
Thai and English, and its details (field errors, the stage the workflow was at, and what a topic
every agency reads may say instead). Pure data: the rules that refuse (the workflow, the
authorisation matrix, the aggregates) return or raise it; each entrypoint maps it once, to the
one HTTP error body (`services/common/errors.py`) or to a dead letter, whose kind is the
refusal's kind. No HTTP status here or in any rule."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from smartcity_th.contracts.common import BilingualText, Stage
from smartcity_th.contracts.proposals import FieldError


class RefusalKind(StrEnum):
    """Why, in one word; also the `error_kind` of the dead letter a refused record becomes."""

    VALIDATION = "validation"
    """The input is not acceptable: a field, a value, the reference data."""
    UNAUTHORISED = "unauthorised"
    """The producer (unknown, or not allowed by the authorisation matrix) may not do this."""
    UNKNOWN_PROPOSAL = "unknown_proposal"
    """No such proposal, or (answered the same, never naming its owner) another agency's."""
    CONFLICT = "conflict"
    """Not allowed in the current state: the stage, the revision, an id already in use."""
    CONTACT_OUTSIDE_DOMAINS = "contact_outside_domains"
    """A contact address outside the applicant's registered email domains."""
    NOT_FOUND = "not_found"
    """No such thing to act on or show: a directory entry, a letter held for review (a
    proposal is `unknown_proposal`)."""


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    reason: BilingualText
    errors: tuple[FieldError, ...] = ()
    """Field-precise reasons, where the refusal is about fields."""
    stage: Stage | None = None
    """The stage the proposal was at, for a refusal of the workflow (None: no case yet)."""
    public: Refusal | None = None
    """What a refusal published on a topic every agency reads says instead, when this one
    names personal data (a contact address)."""

    @property
    def for_everyone(self) -> Refusal:
        return self.public or self


class Refused(Exception):
    """A refusal raised out of a rule that otherwise returns what it builds (an aggregate)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason.en)
        self.refusal = refusal


def refusal(
    kind: RefusalKind,
    en: str,
    th: str,
    errors: tuple[FieldError, ...] = (),
    *,
    stage: Stage | None = None,
) -> Refusal:
    return Refusal(kind, BilingualText(en=en, th=th), errors, stage)


def field_error(field: str, en: str, th: str) -> FieldError:
    return FieldError(field=field, message=BilingualText(en=en, th=th))
