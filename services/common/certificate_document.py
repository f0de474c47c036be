"""The certificate as people read it: one template for the PDF the award letter encloses
(notifications) and for the public certificate page (approvals), Thai first with English
below. The facts, the verification link, and the approvals service's signature over the
certificate's statement (`smartcity_th.contracts.certificate_seal`) with its key id; the page
adds the certificate's status today and whether the signature checks against the registry."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from smartcity_th.contracts.agencies import province_th
from smartcity_th.contracts.approvals import CertificationAwarded
from smartcity_th.contracts.certificate import STATUS_LABELS, StatusView
from smartcity_th.contracts.certificate_seal import ISSUER, SealVerdict, statement
from smartcity_th.contracts.reference import provinces
from smartcity_th.services.common.thai_dates import THAILAND, english_date, thai_date

ISSUER_NAME = ("บริการพิจารณาอนุมัติ", "the approvals service")
"""Who signs certificates, in words (the registry's agency `ISSUER`)."""


def certificate_url(base_url: str, number: str) -> str:
    """The certificate's public page, the link printed on it."""
    return f"{base_url.rstrip('/')}/certificates/{number}"


def pdf_filename(number: str) -> str:
    return f"{number}-certificate.pdf"


@dataclass(frozen=True)
class CertificateFacts:
    """What the certificate shows: the award as approvals published it, the proposal it
    certifies, and its public page."""

    award: CertificationAwarded
    proposal_id: str
    url: str

    @property
    def statement(self) -> bytes | None:
        s = self.award.seal
        return None if s is None else statement(self.award, self.proposal_id, s.key_id, s.signed_at)

    def context(self) -> dict[str, Any]:
        names = {p.code: p for p in provinces()}
        province = names.get(self.award.province_code)
        stated = self.statement
        s = self.award.seal
        return {
            "award": self.award,
            "proposal_id": self.proposal_id,
            "url": self.url,
            "province_th": province_th(province.name_th) if province else self.award.province_code,
            "province_en": province.name_en if province else self.award.province_code,
            "issuer": ISSUER,
            "issuer_th": ISSUER_NAME[0],
            "issuer_en": ISSUER_NAME[1],
            "seal": s,
            "signed_at": None if s is None else s.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "signed_at_th": None if s is None else signed_time(s.signed_at, "th"),
            "signed_at_en": None if s is None else signed_time(s.signed_at, "en"),
            "statement_sha256": None if stated is None else hashlib.sha256(stated).hexdigest(),
        }


def signed_time(at: dt.datetime, lang: str) -> str:
    """When a certificate was signed, as its reader reads a time: the day and the clock time
    in Thailand (7 ธันวาคม 2569 เวลา 14.42 น.); the exact UTC instant stays in the statement."""
    local = at.astimezone(THAILAND)
    if lang == "th":
        return f"{thai_date(local)} เวลา {local:%H.%M} น."
    return f"{english_date(local)}, {local:%H:%M} Thailand time"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("smartcity_th.services.common", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(thai_date=thai_date, english_date=english_date)
    return env


def render_certificate(
    facts: CertificateFacts,
    *,
    status: StatusView | None = None,
    verdict: SealVerdict | None = None,
    as_of: dt.date | None = None,
) -> str:
    """The certificate's HTML: the enclosure (no status, no verdict) or its public page."""
    labels = STATUS_LABELS[status.status] if status is not None else None
    return (
        _environment()
        .get_template("certificate.html.j2")
        .render(
            **facts.context(),
            page=status is not None,
            status=status,
            status_th=labels[0] if labels else None,
            status_en=labels[1] if labels else None,
            verdict=None if verdict is None else verdict.as_dict(),
            as_of=as_of,
        )
    )


_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def page_csp(html: str) -> str:
    """The page's Content-Security-Policy: nothing loads but its one inline style sheet,
    allowed by its hash; no script."""
    found = _STYLE.search(html)
    sheet = found.group(1).encode("utf-8") if found else b""
    digest = base64.b64encode(hashlib.sha256(sheet).digest()).decode("ascii")
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
