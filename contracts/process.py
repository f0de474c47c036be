"""The words the event specifications are written in: the bodies of the certification process,
named in Thai and English, and the groups of stages. Pure data; `contracts.workflow` and
`contracts.catalogue` read them (and `contracts.workflow` keeps offering them by their names)."""

from __future__ import annotations

from smartcity_th.contracts.common import BilingualText, Stage

S = Stage

ACTIVE = frozenset(
    {
        S.SUBMITTED,
        S.REVISION_REQUESTED,
        S.SCREENED,
        S.SUBCOMMITTEE_APPROVED,
        S.STEERING_ACKNOWLEDGED,
        S.CABINET_ENDORSED,
        S.CABINET_RETURNED,
    }
)
TERMINAL = frozenset({S.CERTIFIED, S.REJECTED, S.WITHDRAWN})

# -- the names people read: one Thai and one English name per body ---------------------------
# Used everywhere people read (emails, the status page, the console, the CLI); never the codes.

SUBCOMMITTEE = BilingualText(
    th="คณะอนุกรรมการขับเคลื่อนและบริหารโครงการเมืองอัจฉริยะ",
    en="Subcommittee for Driving and Managing Smart City Projects",
)
"""The DES subcommittee that approves areas (chaired by the Minister of Digital Economy and
Society; see docs/process.md for sources)."""
STEERING_COMMITTEE = BilingualText(
    th="คณะกรรมการขับเคลื่อนการพัฒนาเมืองอัจฉริยะ",
    en="Smart City Development Steering Committee",
)
"""The national steering committee that acknowledges approvals (chaired by a Deputy Prime
Minister)."""
CABINET = BilingualText(th="คณะรัฐมนตรี", en="the Cabinet")
DEPA = BilingualText(
    th="สำนักงานส่งเสริมเศรษฐกิจดิจิทัล", en="the Digital Economy Promotion Agency (depa)"
)
SMART_CITY_OFFICE = BilingualText(th="สำนักงานเมืองอัจฉริยะประเทศไทย", en="Smart City Thailand Office")
LOGO = BilingualText(th="ตราสัญลักษณ์เมืองอัจฉริยะประเทศไทย", en="the Smart City Thailand logo")
APPLICANT = BilingualText(th="ผู้ยื่นข้อเสนอ", en="The applicant")
"""Who decides an applicant's own steps (its submission, resubmission, withdrawal)."""
