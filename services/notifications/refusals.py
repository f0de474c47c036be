"""Why the notifications service refuses a request, as typed refusals (`contracts/refusal.py`):
its recipients directory is administered by depa and the systems only, an entry is looked up or
added by its id, and a letter proofreading held is released only once it passes. The HTTP edge
maps them once (`services/common/errors.py`)."""

from __future__ import annotations

from smartcity_th.contracts.refusal import Refusal, RefusalKind, field_error, refusal

QUOTED = 360
"""The longest an id is quoted in a reason (a reason has at most 500 characters)."""


def _quoted(value: str) -> str:
    """`value` as a reason quotes it (its repr), cut to fit."""
    quoted = repr(value)
    return quoted if len(quoted) <= QUOTED else quoted[: QUOTED - 1] + "…"


def not_administrator(agency_id: str) -> Refusal:
    return refusal(
        RefusalKind.UNAUTHORISED,
        f"{agency_id} may not administer the recipients directory (depa or a system agency only)",
        f"{agency_id} ไม่มีสิทธิ์จัดการทะเบียนผู้รับอีเมล (เฉพาะดีป้าหรือระบบ)",
    )


def no_recipient(recipient_id: str) -> Refusal:
    return refusal(
        RefusalKind.NOT_FOUND,
        f"no recipient {_quoted(recipient_id)} in the directory",
        f"ไม่พบผู้รับ {_quoted(recipient_id)} ในทะเบียน",
    )


def recipient_exists(recipient_id: str) -> Refusal:
    return refusal(
        RefusalKind.CONFLICT,
        f"recipient {_quoted(recipient_id)} exists; change it with PATCH",
        f"มีผู้รับ {_quoted(recipient_id)} อยู่แล้ว ใช้ PATCH เพื่อแก้ไข",
    )


def not_held_for_review(delivery_id: str) -> Refusal:
    return refusal(
        RefusalKind.NOT_FOUND,
        f"no letter held for review under {_quoted(delivery_id)}",
        f"ไม่พบหนังสือที่ระงับไว้เพื่อตรวจทานรหัส {_quoted(delivery_id)}",
    )


def still_faulty(problems: list[str]) -> Refusal:
    """A held letter that proofreading still faults: one field error (`letter`) per fault."""
    return refusal(
        RefusalKind.CONFLICT,
        "proofreading still finds faults in the letter: fix the data and release it again",
        "การตรวจทานยังพบข้อบกพร่องในหนังสือ โปรดแก้ไขข้อมูลแล้วปล่อยอีกครั้ง",
        tuple(field_error("letter", p, p) for p in problems if p.strip()),
    )
