"""Value types shared by the event payloads. Data only: no behaviour beyond validation."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

PROPOSAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{2,63}$"
AGENCY_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,63}$"
"""An agency id, as the registry accepts it (`Registry.refusal`, `access.agency_rules`): no dots,
since an agency may use the consumer groups `<agency id>.*` (contracts/access.py) and an id with
a dot would let `x` join the groups of an agency `x.y` (issue 24)."""
WIRE_AGENCY_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"
"""What events' agency fields (`AgencyId`) are read with, as released: wider than
`AGENCY_ID_PATTERN`, so that every event written before ids lost their dots still parses
(contracts/evolution.py). No agency with a dot can be registered, so a claim by one is refused
as any unknown producer's is."""
AGENCY_ID_RULE = (
    "2 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit (no dots)"
)
MEETING_ID_PATTERN = r"^[0-9]{1,3}/25[0-9]{2}$"
SERVICE_PRINCIPAL_PREFIX = "svc-"
"""Producers (and Kafka principals) of the services themselves: `svc-proposals`, ..."""


def service_principal(service: str) -> str:
    """The agency id, producer and Kafka principal of one of the services (`svc-<service>`):
    the one place they are spelled."""
    return f"{SERVICE_PRINCIPAL_PREFIX}{service}"


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def _full(pattern: str) -> re.Pattern[str]:
    """The pattern for `re.fullmatch`: with `re.match`, `$` also accepts a trailing newline."""
    return re.compile(pattern.removeprefix("^").removesuffix("$"))


_PROPOSAL_ID_RE = _full(PROPOSAL_ID_PATTERN)
_AGENCY_ID_RE = _full(AGENCY_ID_PATTERN)


def is_proposal_id(value: object) -> bool:
    """Whether `value` is, as a whole, a proposal id (use this, never `re.match`, on input)."""
    return isinstance(value, str) and _PROPOSAL_ID_RE.fullmatch(value) is not None


def is_agency_id(value: object) -> bool:
    return isinstance(value, str) and _AGENCY_ID_RE.fullmatch(value) is not None


def canonical_uuid(value: object) -> str | None:
    """`value` as a canonical UUID string if it is exactly one (8-4-4-4-12 hex), else None."""
    if not isinstance(value, str) or _UUID.fullmatch(value) is None:
        return None
    return value.lower()


def safe_text(value: object, limit: int = 2000) -> str:
    """Text taken from a record, made safe to store and to encode: lone surrogates (which JSON
    escapes such as "\\ud800" produce and UTF-8 cannot encode) and NUL (which the store's
    PostgreSQL backend cannot hold in a JSON string) become U+FFFD; at most `limit` characters."""
    text = value if isinstance(value, str) else repr(value)
    return _UNSTORABLE.sub("\ufffd", text[:limit])


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored or encoded (a lone surrogate, or NUL), or None if it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "the NUL character (U+0000), which cannot be stored"
    return "invalid Unicode: a lone surrogate"


_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


def unstorable_in(data: object) -> tuple[tuple[int | str, ...], str] | None:
    """The first string (or key) in `data` that cannot be stored: its path and why."""
    stack: list[tuple[tuple[int | str, ...], object]] = [((), data)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, str):
            reason = unstorable(node)
            if reason is not None:
                return where, reason
        elif isinstance(node, dict):
            for key, value in node.items():
                stack.append(((*where, key), key))
                stack.append(((*where, key), value))
        elif isinstance(node, list | tuple):
            stack.extend(((*where, i), v) for i, v in enumerate(node))
    return None


ProposalId = Annotated[
    str,
    StringConstraints(pattern=PROPOSAL_ID_PATTERN),
    Field(description="Proposal id: 3-64 characters of letters, digits and . _ : -"),
]
AgencyId = Annotated[
    str,
    StringConstraints(pattern=WIRE_AGENCY_ID_PATTERN),
    Field(description="Agency id from the agency directory, e.g. 'lg-phuket-city', 'depa'"),
]
MeetingId = Annotated[
    str,
    StringConstraints(pattern=MEETING_ID_PATTERN),
    Field(description="Meeting number / Buddhist-era year, e.g. '1/2565'"),
]
Baht = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, decimal_places=2, description="An amount in Thai baht, >= 0"),
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _check_email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError(f"not a valid email address: {value!r}")
    return value.lower()


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254),
    AfterValidator(_check_email),
    Field(description="An email address (no display name)"),
]


def _check_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be timezone-aware (UTC)")
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


UtcDateTime = Annotated[
    dt.datetime,
    AfterValidator(_check_utc),
    Field(description="A timezone-aware instant, normalised to UTC"),
]


class StorableText(BaseModel):
    """Refuses input with text that no store or encoder accepts (NUL, lone surrogates), naming
    the field, before any field is validated: one rule for every model read from outside."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_unstorable_text(cls, data: Any) -> Any:
        found = unstorable_in(data)
        if found is not None:
            where, reason = found
            field = ".".join(map(str, where)) or "the value"
            raise ValueError(f"{safe_text(field, 200)} contains {reason}")
        return data


class Contract(StorableText):
    """Base of every wire model: strict about unknown fields, immutable, storable text only."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class BilingualText(Contract):
    """Text that people read, in Thai and in English."""

    th: ShortText = Field(description="Thai text")
    en: ShortText = Field(description="English text")


class _Words(Contract):
    """Free text its author wrote in Thai, in English, or both (schema version 2): at least one;
    a Thai field holds Thai script and an English field none, so that a letter in one language
    never quotes the other. Schema version 1 carried one string ("ไทย / English", or one
    language); such a string is still read, split into its languages (`from_v1`)."""

    th: str | None = None
    en: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_string(cls, data: Any) -> Any:
        """One string, as schema version 1 and plain HTTP bodies give it, read as its
        languages (`from_v1`)."""
        return cls.from_v1(data) if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_language_per_field(self) -> Self:
        th, en = self.th, self.en
        if th is None and en is None:
            raise ValueError("needs the text in Thai (th), in English (en), or both")
        if th is not None and not _THAI.search(th):
            raise ValueError("th: the Thai text has no Thai in it (English goes in en)")
        if en is not None and _THAI.search(en):
            raise ValueError("en: the English text has Thai in it (Thai goes in th)")
        return self

    @classmethod
    def from_v1(cls, value: str) -> dict[str, str | None]:
        """A schema version 1 string ("ไทย / English", or one language) as this type's fields."""
        th, en = split_bilingual(value)
        return {"th": th, "en": en}


class Words(_Words):
    """A short free text (a note, a reason), in Thai, English or both."""

    th: ShortText | None = Field(default=None, description="In Thai (Thai script)")
    en: ShortText | None = Field(default=None, description="In English (no Thai script)")


class LongWords(_Words):
    """A long free text (a resolution as minuted), in Thai, English or both."""

    th: LongText | None = Field(default=None, description="In Thai (Thai script)")
    en: LongText | None = Field(default=None, description="In English (no Thai script)")


def as_words(value: Words | str | dict[str, Any] | None) -> Words | None:
    """A free text given as `Words`, as its fields (a stored document), or as one string (a
    document stored before schema version 2)."""
    if value is None or isinstance(value, Words):
        return value
    return Words.model_validate(value)


class AgencyKind(StrEnum):
    """Who an agency is in the workflow; the authorisation matrix is keyed by this.

    An องค์การบริหารส่วนจังหวัด (อบจ., Provincial Administrative Organisation) is local
    government (ราชการส่วนท้องถิ่น), not the provincial arm of central government (ราชการส่วน
    ภูมิภาค, the governor's administration): its kind is `provincial_administrative_organisation`.
    The earlier value `provincial_administration` is still read (an alias of the same kind), so
    directories and integrators written against it keep working; it is never written."""

    LOCAL_GOVERNMENT = "local_government"
    PROVINCIAL_ADMINISTRATIVE_ORGANISATION = "provincial_administrative_organisation"
    PRIVATE_DEVELOPER = "private_developer"
    DEPA = "depa"
    DES_SUBCOMMITTEE = "des_subcommittee_secretariat"
    STEERING_COMMITTEE = "steering_committee_secretariat"
    CABINET = "cabinet_secretariat"
    SYSTEM = "system"

    @property
    def is_applicant(self) -> bool:
        return self in APPLICANT_KINDS

    @classmethod
    def _missing_(cls, value: object) -> AgencyKind | None:
        return KIND_ALIASES.get(str(value))


KIND_ALIASES: dict[str, AgencyKind] = {
    "provincial_administration": AgencyKind.PROVINCIAL_ADMINISTRATIVE_ORGANISATION,
}
"""Earlier names of a kind, still accepted when read (schema evolution: additive only)."""


APPLICANT_KINDS = frozenset(
    {
        AgencyKind.LOCAL_GOVERNMENT,
        AgencyKind.PROVINCIAL_ADMINISTRATIVE_ORGANISATION,
        AgencyKind.PRIVATE_DEVELOPER,
    }
)


class ProvinceRef(Contract):
    """A province, by its two-digit code with its names."""

    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")] = Field(
        description="Two-digit province code (Ministry of Interior), e.g. '83' for Phuket"
    )
    name_th: ShortText = Field(description="Province name in Thai")
    name_en: ShortText = Field(description="Province name in English")


ILLUSTRATIVE_BOTH = "(ตัวอย่าง / illustrative)"
"""How a value not from a public source is marked in a field read in both languages."""
_THAI = re.compile(r"[\u0E00-\u0E7F]")


def marked(value: str, lang: str) -> str:
    """An identifier (a letter number) as one language writes it: the two-language
    illustrative mark becomes that language's own."""
    return value.replace(ILLUSTRATIVE_BOTH, "(ตัวอย่าง)" if lang == "th" else "(illustrative)")


def split_bilingual(value: str) -> tuple[str | None, str | None]:
    """A free text written once in both languages, "ไทย / English" (how schema version 1
    carries a resolution, a note or a reason), as (Thai, English): split at the first " / "
    with Thai before it and none after it (or the other way round). A text in one language only
    gives None for the other; a text that cannot be split is Thai if it has any Thai."""
    mark = "\x00illustrative\x00"  # the two-language mark, kept whole while splitting
    value = value.replace(ILLUSTRATIVE_BOTH, mark)
    parts = value.split(" / ")
    for i in range(1, len(parts)):
        th, en = " / ".join(parts[:i]).strip(), " / ".join(parts[i:]).strip()
        if _THAI.search(th) and not _THAI.search(en):
            return th.replace(mark, "(ตัวอย่าง)"), en.replace(mark, "(illustrative)")
    for i in range(1, len(parts)):  # "English / ไทย", the other order
        en, th = " / ".join(parts[:i]).strip(), " / ".join(parts[i:]).strip()
        if _THAI.search(th) and not _THAI.search(en):
            return th.replace(mark, "(ตัวอย่าง)"), en.replace(mark, "(illustrative)")
    if _THAI.search(value):
        return value.replace(mark, "(ตัวอย่าง)"), None
    return None, value.replace(mark, "(illustrative)")


EFFECTIVE_ON_DESCRIPTION = (
    "The day this took effect, when it is recorded later than that (a proposal received on "
    "paper before it was entered, a round's history imported); absent: the day it was recorded. "
    "Never later than the day it is recorded. Letters about it are dated this day."
)


class Meeting(Contract):
    """A committee meeting at which decisions were taken."""

    meeting_id: MeetingId
    held_on: dt.date = Field(description="Date of the meeting (Gregorian)")
    chair: BilingualText = Field(description="Who chaired the meeting")
    date_note: BilingualText | None = Field(
        default=None,
        description="Why the date is not certain, shown beside it wherever it appears (e.g. "
        "'วันที่ตัวอย่าง' / 'illustrative date' when the public record gives none)",
    )


class Stage(StrEnum):
    """Where a proposal is in the certification workflow."""

    SUBMITTED = "submitted"
    REVISION_REQUESTED = "revision_requested"
    SCREENED = "screened"
    SUBCOMMITTEE_APPROVED = "subcommittee_approved"
    STEERING_ACKNOWLEDGED = "steering_acknowledged"
    CABINET_ENDORSED = "cabinet_endorsed"
    CABINET_RETURNED = "cabinet_returned"
    CERTIFIED = "certified"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
