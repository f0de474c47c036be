"""The one example story every example tells: Phuket City Municipality's proposal, approved by
the DES subcommittee at its meeting 1/2565 on 6 August 2022, acknowledged, endorsed by the
Cabinet and certified. The event specifications (`contracts.catalogue`) take their examples
from it; the generated docs (`contracts.examples`), the letters' samples
(`services.notifications.samples`) and the property-based tests show them.

Facts follow docs/process.md: the subcommittee's meeting 1/2565 on 6 August 2022 chaired by the
Minister of Digital Economy and Society; the steering committee's meeting 1/2565 on 9 November
2022 chaired by a Deputy Prime Minister; logos handed over on 9 January 2023. Illustrative (no
public source): the Cabinet's dates and the Secretariat's letter numbers, the reasons, notes and
resolution wording. Deterministic: fixed ids and times, so what is generated from it does not
change between runs. Pure data.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from smartcity_th.contracts.common import BilingualText, Meeting, ProvinceRef
from smartcity_th.contracts.proposals import Attachment, PlanComponents, ProposalContent
from smartcity_th.contracts.reference import SmartDimension

PROPOSAL_ID = "PKT-2565-0001"
APPLICANT = "lg-phuket-city"
CORRELATION_ID = uuid.UUID("6f1c2a9e-8d47-4f0b-9a53-2b7c1e0d4a11")
T0 = dt.datetime(2022, 6, 15, 2, 30, tzinfo=dt.UTC)


def week(n: int) -> dt.datetime:
    """When the story's `n`-th recorded event happened: one a week from `T0`."""
    return T0 + dt.timedelta(days=7 * n)


PHUKET = ProvinceRef(code="83", name_th="ภูเก็ต", name_en="Phuket")
AREA = BilingualText(th="ภูเก็ตเมืองอัจฉริยะ", en="Phuket Smart City")
CONTACT = "smartcity@phuketcity.example.go.th"
CONTACTS = [CONTACT]
"""On a claim only; the facts never carry them (ProposalContactsRecorded does, on a topic only
the services read)."""

SUBCOMMITTEE_CHAIR = BilingualText(
    th="รัฐมนตรีว่าการกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม",
    en="Minister of Digital Economy and Society",
)
STEERING_CHAIR = BilingualText(th="รองนายกรัฐมนตรี", en="Deputy Prime Minister")
SUBCOMMITTEE_MEETING = Meeting(
    meeting_id="1/2565", held_on=dt.date(2022, 8, 6), chair=SUBCOMMITTEE_CHAIR
)
STEERING_MEETING = Meeting(meeting_id="1/2565", held_on=dt.date(2022, 11, 9), chair=STEERING_CHAIR)
CERTIFICATE_NUMBER = "SCT-2565-0016"
VALID_FROM = dt.date(2023, 1, 9)
DELIVER_BY = dt.date(2025, 1, 9)
REPORTED_PERIOD = dt.date(2024, 10, 10)

CONTENT = ProposalContent(
    province=PHUKET,
    area_name=AREA,
    dimensions=[SmartDimension.ENVIRONMENT, SmartDimension.MOBILITY, SmartDimension.ECONOMY],
    plan=PlanComponents(
        area_boundary_and_goals=(
            "เขตเทศบาลนครภูเก็ต 12 ตร.กม. / Phuket City Municipality, 12 km²: a liveable, "
            "safe tourist city with cleaner air and water by 2027"
        ),
        infrastructure_plan=(
            "โครงข่ายเซนเซอร์และไฟเบอร์ออปติก / Fibre backbone, air-quality and flood sensors, "
            "smart street lighting in the old town"
        ),
        city_data_platform=(
            "แพลตฟอร์มข้อมูลเมือง Phuket City Data Platform: open API, consent-based personal "
            "data, security audited yearly"
        ),
        smart_solutions=(
            "Smart Environment: flood early warning; Smart Mobility: real-time bus tracking; "
            "Smart Economy: digital tourist pass"
        ),
        management_model=(
            "บริษัทพัฒนาเมืองภูเก็ต (Phuket City Development Co.) operates the platform under "
            "a municipal service agreement"
        ),
    ),
    has_city_data_platform=True,
    budget_baht=Decimal("125000000.00"),
    expected_value_baht=Decimal("480000000.00"),
    attachments=[
        Attachment(
            title="แผนพัฒนาเมืองอัจฉริยะภูเก็ต (Phuket smart city development plan)",
            url="https://www.phuketcity.example.go.th/smartcity/plan-2565.pdf",
        )
    ],
)
