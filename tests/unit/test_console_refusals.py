"""The console's refusals (services/console/domain.py) at its HTTP edge: mapped once, by their
kind (`refusal_response`, services/common/errors.py), to the statuses and bodies the console
has always answered with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smartcity_th.contracts.refusal import Refusal
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.errors import refusal_response
from smartcity_th.services.console.domain import (
    may_not_replay,
    no_console_access,
    replay_refusal,
    unknown_proposal,
)


def body(en: str, th: str) -> dict[str, Any]:
    return {"error": en, "error_th": th, "errors": []}


def not_replayable() -> Refusal:
    refused = replay_refusal({"topic": "smartcity.proposals", "consumer": "someone"}, Topics())
    assert refused is not None
    return refused


@pytest.mark.parametrize(
    ("refusal", "status", "expected"),
    [
        (
            unknown_proposal("SC-2565-0001"),
            404,
            body("no proposal SC-2565-0001", "ไม่พบ proposal SC-2565-0001"),
        ),
        (
            no_console_access("lg-phuket-city"),
            403,
            body(
                "lg-phuket-city has no access to the operators' console",
                "lg-phuket-city ไม่มีสิทธิ์ใช้คอนโซลผู้ปฏิบัติงาน",
            ),
        ),
        (
            may_not_replay("des-subcommittee"),
            403,
            body(
                "des-subcommittee may not replay dead letters (depa operators only)",
                "des-subcommittee ไม่มีสิทธิ์ส่งข้อความซ้ำ (เฉพาะผู้ปฏิบัติงาน depa)",
            ),
        ),
        (
            not_replayable(),
            409,
            body(
                "dead letter was not written by one of the services (consumer 'someone')",
                "ข้อความที่ถูกปฏิเสธไม่ได้มาจากบริการของระบบ",
            ),
        ),
    ],
    ids=["unknown proposal", "no console access", "may not replay", "unsafe replay"],
)
def test_each_refusal_of_the_console_has_the_status_and_body_it_always_had(
    refusal: Refusal, status: int, expected: dict[str, Any]
) -> None:
    answer = refusal_response(refusal)
    assert answer.status_code == status
    assert json.loads(bytes(answer.body)) == expected


def test_a_replayable_letter_is_not_refused_before_its_original_is_read() -> None:
    letter = {"topic": "smartcity.decisions", "consumer": "approvals", "value_truncated": False}
    assert replay_refusal(letter, Topics()) is None
