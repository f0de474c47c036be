"""The notifications service's refusals (`services/notifications/refusals.py`) as its HTTP edge
answers them through the one mapping (`services/common/errors.py`): the statuses and bodies it
answered before they were typed refusals."""

from __future__ import annotations

import json

from smartcity_th.contracts.proposals import ErrorResponse
from smartcity_th.contracts.refusal import Refusal
from smartcity_th.services.common.errors import refusal_response
from smartcity_th.services.notifications import refusals


def answered(refusal: Refusal) -> tuple[int, dict[str, object]]:
    response = refusal_response(refusal)
    body = json.loads(bytes(response.body))
    ErrorResponse.model_validate(body)
    return response.status_code, body


def test_each_refusal_keeps_its_status_and_body() -> None:
    assert answered(refusals.not_administrator("lg-phuket-city")) == (
        403,
        {
            "error": "lg-phuket-city may not administer the recipients directory "
            "(depa or a system agency only)",
            "error_th": "lg-phuket-city ไม่มีสิทธิ์จัดการทะเบียนผู้รับอีเมล (เฉพาะดีป้าหรือระบบ)",
            "errors": [],
        },
    )
    assert answered(refusals.no_recipient("governor-99")) == (
        404,
        {
            "error": "no recipient 'governor-99' in the directory",
            "error_th": "ไม่พบผู้รับ 'governor-99' ในทะเบียน",
            "errors": [],
        },
    )
    assert answered(refusals.recipient_exists("depa")) == (
        409,
        {
            "error": "recipient 'depa' exists; change it with PATCH",
            "error_th": "มีผู้รับ 'depa' อยู่แล้ว ใช้ PATCH เพื่อแก้ไข",
            "errors": [],
        },
    )
    assert answered(refusals.not_held_for_review("e1:a@example.go.th")) == (
        404,
        {
            "error": "no letter held for review under 'e1:a@example.go.th'",
            "error_th": "ไม่พบหนังสือที่ระงับไว้เพื่อตรวจทานรหัส 'e1:a@example.go.th'",
            "errors": [],
        },
    )
    faults = ["text: a placeholder: 'TODO'", "html: a placeholder: 'TODO'"]
    assert answered(refusals.still_faulty(faults)) == (
        409,
        {
            "error": "proofreading still finds faults in the letter: "
            "fix the data and release it again",
            "error_th": "การตรวจทานยังพบข้อบกพร่องในหนังสือ โปรดแก้ไขข้อมูลแล้วปล่อยอีกครั้ง",
            "errors": [{"field": "letter", "message": {"en": f, "th": f}} for f in faults],
        },
    )


def test_an_id_too_long_for_a_reason_is_quoted_cut() -> None:
    status, body = answered(refusals.no_recipient("x" * 2000))
    assert status == 404
    assert str(body["error"]).startswith("no recipient 'xxx")
    assert str(body["error"]).endswith("… in the directory")
    assert len(str(body["error"])) <= 500
