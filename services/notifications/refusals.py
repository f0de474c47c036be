"""Why the notifications service refuses a request, as typed refusals (`contracts/refusal.py`):
its recipients directory is administered by depa and the systems only, an entry is looked up or
added by its id, and a letter proofreading held is released only once it passes. The HTTP edge
maps them once (`services/common/errors.py`)."""

from __future__ import annotations

from smartcity_th.contracts.refusal import Refusal, RefusalKind, field_error, refusal

QUOTED = 360
"""The longest an id is quoted in a reason (a reason has at most 500 characters)."""


def _naming(kind: RefusalKind, en: str, th: str, value: str) -> Refusal:
    """A refusal whose reasons quote `value` (its repr, cut to fit) where they say `{}`."""
    quoted = repr(value)
    if len(quoted) > QUOTED:
        quoted = quoted[: QUOTED - 1] + "…"
    return refusal(kind, en.format(quoted), th.format(quoted))


def not_administrator(agency_id: str) -> Refusal:
    return refusal(
        RefusalKind.UNAUTHORISED,
        f"{agency_id} may not administer the recipients directory (depa or a system agency only)",
        f"{agency_id} ไม่มีสิทธิ์จัดการทะเบียนผู้รับอีเมล (เฉพาะดีป้าหรือระบบ)",
    )


def no_recipient(recipient_id: str) -> Refusal:
    return _naming(
        RefusalKind.NOT_FOUND,
        "no recipient {} in the directory",
        "ไม่พบผู้รับ {} ในทะเบียน",
        recipient_id,
    )


def recipient_exists(recipient_id: str) -> Refusal:
    return _naming(
        RefusalKind.CONFLICT,
        "recipient {} exists; change it with PATCH",
        "มีผู้รับ {} อยู่แล้ว ใช้ PATCH เพื่อแก้ไข",
        recipient_id,
    )


def not_held_for_review(delivery_id: str) -> Refusal:
    return _naming(
        RefusalKind.NOT_FOUND,
        "no letter held for review under {}",
        "ไม่พบหนังสือที่ระงับไว้เพื่อตรวจทานรหัส {}",
        delivery_id,
    )


def still_faulty(problems: list[str]) -> Refusal:
    """A held letter that proofreading still faults: one field error (`letter`) per fault."""
    return refusal(
        RefusalKind.CONFLICT,
        "proofreading still finds faults in the letter: fix the data and release it again",
        "การตรวจทานยังพบข้อบกพร่องในหนังสือ โปรดแก้ไขข้อมูลแล้วปล่อยอีกครั้ง",
        tuple(field_error("letter", p, p) for p in problems if p.strip()),
    )
