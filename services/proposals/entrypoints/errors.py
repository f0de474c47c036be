"""Request validation errors in the shape of every other refusal of the API: a reason in English
and Thai, and one entry per field (dotted path) with a message in both languages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.common import BilingualText
from contracts.proposals import FieldError

_THAI: dict[str, str] = {
    "missing": "ต้องระบุข้อมูลนี้",
    "extra_forbidden": "ไม่รู้จักฟิลด์นี้",
    "too_short": "มีจำนวนน้อยเกินไป (ต้องมีอย่างน้อย {min_length} รายการ)",
    "too_long": "มีจำนวนมากเกินไป (ไม่เกิน {max_length} รายการ)",
    "string_too_short": "สั้นเกินไป (อย่างน้อย {min_length} ตัวอักษร)",
    "string_too_long": "ยาวเกินไป (ไม่เกิน {max_length} ตัวอักษร)",
    "string_type": "ต้องเป็นข้อความ",
    "string_pattern_mismatch": "รูปแบบไม่ถูกต้อง",
    "greater_than_equal": "ต้องไม่น้อยกว่า {ge} (ห้ามติดลบ)",
    "greater_than": "ต้องมากกว่า {gt}",
    "less_than_equal": "ต้องไม่เกิน {le}",
    "decimal_parsing": "ต้องเป็นจำนวนเงิน (ตัวเลข)",
    "decimal_max_digits": "มีจำนวนหลักมากเกินไป",
    "decimal_max_places": "ทศนิยมเกิน {decimal_places} ตำแหน่ง",
    "enum": "ต้องเป็นหนึ่งใน {expected}",
    "bool_parsing": "ต้องเป็น true หรือ false",
    "bool_type": "ต้องเป็น true หรือ false",
    "int_parsing": "ต้องเป็นจำนวนเต็ม",
    "url_parsing": "ไม่ใช่ URL ที่ถูกต้อง",
    "url_scheme": "URL ต้องขึ้นต้นด้วย http หรือ https",
    "json_invalid": "ไม่ใช่ JSON ที่ถูกต้อง",
    "model_attributes_type": "ต้องเป็นออบเจกต์ JSON",
    "dict_type": "ต้องเป็นออบเจกต์ JSON",
    "list_type": "ต้องเป็นรายการ (array)",
    "datetime_parsing": "ต้องเป็นวันเวลาแบบ ISO 8601",
    "datetime_from_date_parsing": "ต้องเป็นวันเวลาแบบ ISO 8601",
    "value_error": "ค่าไม่ถูกต้อง",
}


def dotted(loc: Sequence[int | str]) -> str:
    """'body.plan.smart_solutions' -> 'plan.smart_solutions'; query and header keep a prefix."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "(body)"


def thai_message(error: dict[str, Any]) -> str:
    template = _THAI.get(str(error.get("type")), "ข้อมูลไม่ถูกต้อง")
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError, ValueError):
        return template.split(" (")[0]


def field_errors(errors: Sequence[Any]) -> list[FieldError]:
    out: list[FieldError] = []
    for error in errors:
        message = str(error.get("msg", "invalid value"))[:500]
        out.append(
            FieldError(
                field=dotted(error.get("loc", ()))[:500] or "(body)",
                message=BilingualText(en=message, th=thai_message(error)[:500]),
            )
        )
    return out


def validation_body(errors: Sequence[Any]) -> dict[str, Any]:
    found = field_errors(errors)
    count = len(found)
    return {
        "error": f"the request has {count} invalid field{'s' if count != 1 else ''}",
        "error_th": f"คำขอมีข้อมูลไม่ถูกต้อง {count} รายการ",
        "errors": [e.model_dump() for e in found],
    }
