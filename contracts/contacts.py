"""Where an applicant's contact addresses may be: the one rule (issue 24, item 9).

A proposal's contact addresses receive official letters that carry the applicant's own text, so
an applicant may name only addresses at the email domains registered for it in the agency
registry (`AgencyRegistered.email_domains`, set by the admin at onboarding or with
`smartcity-admin email-domains`). A registered domain covers itself and its subdomains
(`phuketcity.go.th` covers `smartcity@phuketcity.go.th` and `it@mail.phuketcity.go.th`). An
agency with no registered domain may name no address: every submission is refused, saying how
to register one. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from smartcity_th.contracts.common import BilingualText
from smartcity_th.contracts.proposals import FieldError
from smartcity_th.contracts.refusal import Refusal, RefusalKind

EMAIL_DOMAIN_PATTERN = (
    r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"
)
EMAIL_DOMAIN_RULE = (
    "a domain name of at least two labels (e.g. phuketcity.go.th): letters, digits and '-', "
    "no '@', no leading or trailing dot"
)
_DOMAIN_RE = re.compile(EMAIL_DOMAIN_PATTERN.removeprefix("^").removesuffix("$"))
MAX_EMAIL_DOMAINS = 20
REGISTER_HINT_EN = (
    "the registry's admin registers one: smartcity-admin email-domains {agency} --add DOMAIN"
)
REGISTER_HINT_TH = (
    "ผู้ดูแลทะเบียนหน่วยงานลงทะเบียนให้ได้ด้วยคำสั่ง smartcity-admin email-domains {agency} --add DOMAIN"
)


def normal_domain(value: str) -> str:
    """A domain as registered: lowercase, without a trailing dot; `ValueError` if it is not
    one (`EMAIL_DOMAIN_RULE`)."""
    domain = value.strip().lower().removesuffix(".")
    if _DOMAIN_RE.fullmatch(domain) is None:
        raise ValueError(f"{value!r} is not an email domain: {EMAIL_DOMAIN_RULE}")
    return domain


EmailDomain = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(normal_domain),
    Field(
        description="An email domain of the agency; covers its subdomains (e.g. 'phuketcity.go.th')"
    ),
]


def within(address: str, domains: Iterable[str]) -> bool:
    """Whether the address is at one of the domains or a subdomain of one (case-insensitive)."""
    at = address.rpartition("@")[2].lower().removesuffix(".")
    return any(at == d or at.endswith("." + d) for d in (d.lower() for d in domains))


@dataclass(frozen=True)
class OutsideAddress:
    index: int
    """Its position in the list given (for the field path `contact_emails.<index>`)."""
    address: str


LISTED = 3
"""How many addresses (and domains) a refusal's one-line reason names; its field errors name
each address, and a reason is short text (500 characters)."""


def _listed(items: Sequence[str], *, th: bool) -> str:
    shown = ", ".join(items[:LISTED])
    more = len(items) - LISTED
    if more <= 0:
        return shown
    return f"{shown} และอีก {more} รายการ" if th else f"{shown} and {more} more"


def _reason(
    agency_id: str, outside: Sequence[OutsideAddress], allowed: Sequence[str], named: bool
) -> BilingualText:
    """The reason in one line, naming a few addresses and domains: a domain may be 253
    characters and the addresses are as many as the claim sent."""
    names = [_which(o, named) for o in outside]
    reason = _reason_text(agency_id, names, list(allowed))
    return BilingualText(th=_clip(reason.th), en=_clip(reason.en))


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _reason_text(agency_id: str, names: list[str], allowed: list[str]) -> BilingualText:
    which_en, which_th = _listed(names, th=False), _listed(names, th=True)
    if not allowed:
        return BilingualText.model_construct(
            en=f"{agency_id} has no registered email domain, so no contact address "
            f"can be accepted ({which_en}); " + REGISTER_HINT_EN.format(agency=agency_id),
            th=f"{agency_id} ยังไม่ได้ลงทะเบียนโดเมนอีเมล จึงรับอีเมลผู้ประสานงานไม่ได้ "
            f"({which_th}) " + REGISTER_HINT_TH.format(agency=agency_id),
        )
    return BilingualText.model_construct(
        en=f"contact addresses must be at {agency_id}'s registered email domains "
        f"({_listed(allowed, th=False)}); not: {which_en}",
        th=f"อีเมลผู้ประสานงานต้องอยู่ในโดเมนอีเมลที่ {agency_id} ลงทะเบียนไว้ "
        f"({_listed(allowed, th=True)}) รายการที่ไม่อยู่ในโดเมนดังกล่าว: {which_th}",
    )


def _message(outside: OutsideAddress, allowed: Sequence[str], named: bool) -> BilingualText:
    which = _which(outside, named)
    if not allowed:
        return BilingualText(
            en=f"{which} cannot be accepted: no email domain is registered",
            th=f"รับ {which} ไม่ได้ เพราะยังไม่ได้ลงทะเบียนโดเมนอีเมลของหน่วยงาน",
        )
    return BilingualText(
        en=_clip(f"{which} is not at a registered email domain ({_listed(allowed, th=False)})"),
        th=_clip(f"{which} ไม่อยู่ในโดเมนอีเมลที่ลงทะเบียนไว้ ({_listed(allowed, th=True)})"),
    )


def _which(outside: OutsideAddress, named: bool) -> str:
    return outside.address if named else f"contact_emails[{outside.index}]"


def contact_refusal(
    agency_id: str, addresses: Sequence[str], domains: Sequence[str]
) -> Refusal | None:
    """None when every address is at one of the agency's registered email domains; else the
    refusal naming the addresses outside them (field `contact_emails.<index>`) and the domains
    allowed. Said two ways: naming the addresses (to the applicant itself: the HTTP answer; the
    dead letter, which only the services and operators read), and, as its `public` form, by
    position only (the `IntakeRejected` fact, which every agency may read, carries no personal
    data)."""
    outside = tuple(OutsideAddress(i, a) for i, a in enumerate(addresses) if not within(a, domains))
    if not outside:
        return None
    allowed = tuple(domains)

    def said(named: bool, public: Refusal | None = None) -> Refusal:
        return Refusal(
            RefusalKind.CONTACT_OUTSIDE_DOMAINS,
            _reason(agency_id, outside, allowed, named),
            tuple(
                FieldError(field=f"contact_emails.{o.index}", message=_message(o, allowed, named))
                for o in outside
            ),
            public=public,
        )

    return said(named=True, public=said(named=False))
