"""Who receives which letter: the table, event x party (from each event's specification in
contracts.catalogue), and the rule that applies it. Pure.

Every told event is one external letter (หนังสือภายนอก) from one sending office, numbered in
that office's register, addressed (เรียน) to one party, with the parties that get a copy named
under สำเนาส่ง and sent the same email in Cc. Parties:

- `applicant`: the applicant agency, at its directory address; the proposal's contact
  addresses are the applicant's own staff and get the same email in Cc (not named as copies);
- `governor`: the governor of the area's province (ผู้ว่าราชการจังหวัด…, or the Governor of
  Bangkok);
- `des`: the DES subcommittee's secretariat; `steering`: the steering committee's secretariat;
- `producer`: whoever produced a refused claim.

Nobody else is told, and `NOT_TOLD` says why (depa is the sender; the Cabinet is never told of
its own resolution). A copy is dropped when its address is already on the email, or when its
addressee holds the same office as the letter's (an area of Bangkok applied for by the Bangkok
Metropolitan Administration: the Governor of Bangkok is the addressee already).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from smartcity_th.contracts.agencies import office_holder
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.catalogue import LetterRule as LetterRule
from smartcity_th.contracts.catalogue import Party as Party

P = Party

PARTY_AGENCY: dict[Party, str] = {P.DES: "des-subcommittee", P.STEERING: "steering-committee"}
"""Parties that are one fixed entry of the recipients directory."""

PARTY_NAMES: dict[Party, tuple[str, str]] = {
    P.APPLICANT: ("ผู้ยื่นข้อเสนอ", "the applicant"),
    P.GOVERNOR: ("ผู้ว่าราชการจังหวัดที่ตั้งพื้นที่", "the governor of the area's province"),
    P.DES: ("ฝ่ายเลขานุการคณะอนุกรรมการฯ (กระทรวงดิจิทัลฯ)", "the DES subcommittee's secretariat"),
    P.STEERING: ("ฝ่ายเลขานุการคณะกรรมการขับเคลื่อนฯ", "the steering committee's secretariat"),
    P.PRODUCER: ("หน่วยงานที่ส่งคำขอ", "the agency that sent the refused request"),
}


LETTERS: dict[str, LetterRule] = {
    name: spec.letter for name, spec in EVENTS.items() if spec.letter is not None
}
"""Event type -> its letter, from the event specifications. Events without one
(NotificationSent, NotificationFailed, the registry's events) cause none."""

NOT_TOLD: dict[str, str] = {
    "depa": "depa's Smart City Thailand Office is the sending office: its copy is the letter "
    "in its register and the console's delivery log, not a letter to itself",
    "cabinet-secretariat": "the Cabinet's decisions reach the system from the Secretariat of "
    "the Cabinet's own letter; it is not told of its own resolution",
}
"""Directory entries that never receive a letter, and why (printed in docs/notifications.md)."""


def rule(event_type: str) -> LetterRule | None:
    return LETTERS.get(event_type)


def needs_proposal(event_type: str) -> bool:
    """Whether an event's letter needs its proposal (its applicant, contacts or province)."""
    found = LETTERS.get(event_type)
    if found is None:
        return False
    return bool({P.APPLICANT, P.GOVERNOR} & {found.to, *found.cc})


def governor_office_id(province_code: str) -> str:
    return f"governor-{province_code}"


def party_id(party: Party, proposal: Mapping[str, Any], producer: str | None) -> str:
    """The directory id of a party for one proposal ("" when it cannot be named)."""
    if party is P.APPLICANT:
        return str(proposal.get("applicant") or "")
    if party is P.GOVERNOR:
        code = (proposal.get("province") or {}).get("code")
        return governor_office_id(code) if code else ""
    if party is P.PRODUCER:
        return producer or ""
    return PARTY_AGENCY[party]


@dataclass(frozen=True)
class Addressing:
    """Whom one event's letter goes to, before the directory is asked."""

    to: str
    """Directory id of the addressee ("" when it cannot be named)."""
    cc: tuple[str, ...]
    """Directory ids of the copies, in the table's order, without repeats or the addressee."""
    contacts: tuple[str, ...]
    """The applicant's contact addresses (lower-cased), when the applicant is the addressee."""


def addressing(
    event_type: str, proposal: Mapping[str, Any], producer: str | None
) -> Addressing | None:
    """Apply the table to one event (None: the event causes no letter)."""
    found = LETTERS.get(event_type)
    if found is None:
        return None
    to = party_id(found.to, proposal, producer)
    cc = [party_id(p, proposal, producer) for p in found.cc]
    contacts: tuple[str, ...] = ()
    if found.to is P.APPLICANT:
        contacts = tuple(dict.fromkeys(c.lower() for c in proposal.get("contact_emails") or []))
    return Addressing(
        to,
        tuple(i for i in dict.fromkeys(cc) if i and i != to and i not in NOT_TOLD),
        contacts,
    )


class Addressee(Protocol):
    """A directory entry as the rules need it."""

    @property
    def email(self) -> str: ...
    @property
    def name_th(self) -> str: ...
    @property
    def name_en(self) -> str: ...


A = TypeVar("A", bound=Addressee)


@dataclass(frozen=True)
class Copies(Generic[A]):
    """The copies of one letter that survive the rules: named in สำเนาส่ง, in table order."""

    named: tuple[A, ...]
    contacts: tuple[str, ...]
    """Contact addresses to put in Cc (not already on the email)."""


def copies(to: Addressee, cc: Sequence[A], contacts: Sequence[str]) -> Copies[A]:
    """Drop what would repeat: a copy at an address already on the email, or whose addressee
    holds the same office as the letter's addressee; a contact address already on it."""
    seen = {to.email.lower()}
    holders = {office_holder(to.name_th, to.name_en).th}
    named: list[A] = []
    for entry in cc:
        holder = office_holder(entry.name_th, entry.name_en).th
        if entry.email.lower() in seen or holder in holders:
            continue
        seen.add(entry.email.lower())
        holders.add(holder)
        named.append(entry)
    extra = []
    for email in contacts:
        if email.lower() not in seen:
            seen.add(email.lower())
            extra.append(email.lower())
    return Copies(tuple(named), tuple(extra))


def table_markdown() -> str:
    """The letter table as docs/notifications.md prints it (a test keeps the two equal)."""
    lines = [
        "| event | sender | addressee (เรียน, To) | copies (สำเนาส่ง, Cc) | critical | "
        "no governor's copy because |",
        "|---|---|---|---|---|---|",
    ]
    for event_type, r in LETTERS.items():
        copies_ = ", ".join(p.value for p in r.cc) or "-"
        lines.append(
            f"| {event_type} | {r.office} | {r.to.value} | {copies_} | "
            f"{'yes' if r.critical else '-'} | {r.no_governor or '-'} |"
        )
    return "\n".join(lines) + "\n"
