"""Test data built from the contracts: a proposal's content and the claims about it. Pure (no
I/O), so every tier uses the same builders; each keyword argument changes one part."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from smartcity_th.contracts.common import BilingualText, Contract, ProvinceRef
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.proposals import (
    PlanComponents,
    ProposalContent,
    ProposalSubmitted,
    SubmittedContent,
)
from smartcity_th.contracts.reference import province

PHUKET = ProvinceRef(code="83", name_th="ภูเก็ต", name_en="Phuket")


def province_ref(code: str) -> ProvinceRef:
    """The reference of one of the 77 provinces, by code."""
    p = province(code)
    return ProvinceRef(code=p.code, name_th=p.name_th, name_en=p.name_en)


def content(
    where: ProvinceRef | str = PHUKET,
    *,
    area_name: BilingualText | None = None,
    dimensions: Sequence[str] = ("mobility",),
    plan: str = "แผน / plan",
    has_city_data_platform: bool = True,
    budget_baht: Decimal | int = 1_000_000,
    expected_value_baht: Decimal | int = 5_000_000,
) -> ProposalContent:
    """A valid proposal's content, in Phuket unless `where` names another province (a reference,
    or the code of one of the 77); `plan` is the text of each of the plan's five parts. As the
    facts carry it: without contact addresses (`submission` adds them)."""
    ref = where if isinstance(where, ProvinceRef) else province_ref(where)
    return ProposalContent(
        province=ref,
        area_name=area_name
        or BilingualText(th=f"เมืองอัจฉริยะ{ref.name_th}", en=f"Smart {ref.name_en}"),
        dimensions=list(dimensions),
        plan=PlanComponents(
            area_boundary_and_goals=plan,
            infrastructure_plan=plan,
            city_data_platform=plan,
            smart_solutions=plan,
            management_model=plan,
        ),
        has_city_data_platform=has_city_data_platform,
        budget_baht=Decimal(budget_baht),
        expected_value_baht=Decimal(expected_value_baht),
    )


def submitted_content(
    where: ProvinceRef | str = PHUKET,
    *,
    contact_emails: Sequence[str] = ("city@example.go.th",),
    **kwargs: Any,
) -> SubmittedContent:
    """A valid proposal's content with the applicant's contact addresses, as an applicant sends
    it (a claim or an HTTP body) and the proposals service keeps it."""
    return SubmittedContent.model_validate(
        {**content(where, **kwargs).model_dump(), "contact_emails": list(contact_emails)}
    )


def new_proposal_id(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def claim(
    payload: Contract, producer: str, proposal_id: str, event_id: uuid.UUID | None = None
) -> AnyEnvelope:
    """An envelope of `payload` as `producer` sends it about `proposal_id`."""
    return new_envelope(payload, producer=producer, proposal_id=proposal_id, event_id=event_id)


def submission(
    applicant: str = "lg-phuket-city",
    proposal_id: str | None = None,
    *,
    contact_emails: Sequence[str] = ("city@example.go.th",),
    **changes: Any,
) -> AnyEnvelope:
    """An applicant's submission claim (`changes` go to `content`), with its contacts."""
    payload = ProposalSubmitted(
        applicant=applicant, content=content(**changes), contact_emails=list(contact_emails)
    )
    return claim(payload, applicant, proposal_id or new_proposal_id())
