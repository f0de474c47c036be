"""The one refusal model (contracts/refusal.py): the domain says why, in a kind from a closed set;
each entrypoint maps it once, to the one HTTP error body (services/common/errors.py) or to a dead
letter of the same kind. No domain module knows HTTP."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import httpx
from fastapi import FastAPI

from smartcity_th.contracts.proposals import ErrorResponse
from smartcity_th.contracts.refusal import Refusal, RefusalKind, Refused, field_error, refusal
from smartcity_th.services.common.dead_letters import Unprocessable
from smartcity_th.services.common.errors import HTTP_STATUS, install_error_shape

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_MODULES = sorted(
    [
        *(ROOT / "contracts").rglob("*.py"),
        *(ROOT / "services").glob("*/domain.py"),
        *(ROOT / "services").glob("*/refusals.py"),
        *(ROOT / "services").glob("*/domain/**/*.py"),
    ]
)
"""The pure rules: the wire contracts (the workflow, the authorisation matrix, the contact
rule, ...) and each service's domain and refusals."""

HTTP_MODULES = ("fastapi", "starlette", "http", "httpx", "smartcity_th.services.common.errors")
HTTP_NAMES = {"status_code", "HTTPStatus", "HTTPException", "JSONResponse"}
# An HTTP client or server error's number (4xx, or 5xx but 500, which is also a text limit).
HTTP_STATUS_NUMBER = re.compile(r"\b(?:4[0-5]\d|50[1-9]|51[01])\b")


def test_the_guard_reads_the_domain_modules() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in DOMAIN_MODULES}
    assert {
        "contracts/refusal.py",
        "contracts/workflow.py",
        "contracts/authorisation.py",
        "contracts/contacts.py",
        "services/proposals/domain.py",
        "services/approvals/domain.py",
        "services/notifications/domain.py",
        "services/console/domain.py",
        "services/notifications/refusals.py",
    } <= names


def test_no_domain_module_imports_or_mentions_http_statuses() -> None:
    found: list[str] = []
    for path in DOMAIN_MODULES:
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                found += [
                    f"{where}:{node.lineno} imports {m}"
                    for m in modules
                    if any(m == h or m.startswith(h + ".") for h in HTTP_MODULES)
                ]
            elif isinstance(node, ast.keyword) and (
                node.arg == "status_code"
                or (
                    node.arg == "status"
                    and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, int)
                )
            ):
                found.append(f"{where}:{node.value.lineno} passes {node.arg}=")
            elif isinstance(node, ast.Name | ast.Attribute):
                name = node.id if isinstance(node, ast.Name) else node.attr
                if name in HTTP_NAMES:
                    found.append(f"{where}:{node.lineno} uses {name}")
        for number, line in enumerate(source.splitlines(), 1):
            match = HTTP_STATUS_NUMBER.search(line)
            if match:
                found.append(f"{where}:{number} mentions {match.group()}: {line.strip()}")
    assert found == []


def test_every_kind_has_one_http_status_and_is_its_dead_letter_kind() -> None:
    assert set(HTTP_STATUS) == set(RefusalKind)
    assert HTTP_STATUS == {
        RefusalKind.VALIDATION: 422,
        RefusalKind.CONTACT_OUTSIDE_DOMAINS: 422,
        RefusalKind.UNAUTHORISED: 403,
        RefusalKind.UNKNOWN_PROPOSAL: 404,
        RefusalKind.NOT_FOUND: 404,
        RefusalKind.CONFLICT: 409,
    }
    for kind in RefusalKind:
        letter = Unprocessable.refused(refusal(kind, "why", "เหตุผล"))
        assert (letter.kind, letter.reason) == (kind.value, "why")
    assert {k.value for k in RefusalKind} == {
        "validation",
        "unauthorised",
        "unknown_proposal",
        "conflict",
        "contact_outside_domains",
        "not_found",
    }


def test_a_refusal_for_everyone_is_its_public_form_when_it_has_one() -> None:
    named = refusal(RefusalKind.CONTACT_OUTSIDE_DOMAINS, "a@b.example", "a@b.example")
    public = refusal(RefusalKind.CONTACT_OUTSIDE_DOMAINS, "contact_emails[0]", "contact_emails[0]")
    assert named.for_everyone is named
    assert Refusal(named.kind, named.reason, public=public).for_everyone is public


async def test_a_refusal_of_the_domain_is_answered_in_the_one_body_with_its_kinds_status() -> None:
    api = FastAPI()
    install_error_shape(api)

    @api.get("/{kind}")
    async def refuse(kind: RefusalKind) -> None:
        raise Refused(
            refusal(kind, "why", "เหตุผล", (field_error("content.province", "bad", "ผิด"),))
        )

    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for kind in RefusalKind:
            answer = await client.get(f"/{kind.value}")
            assert answer.status_code == HTTP_STATUS[kind]
            assert answer.json() == {
                "error": "why",
                "error_th": "เหตุผล",
                "errors": [{"field": "content.province", "message": {"th": "ผิด", "en": "bad"}}],
            }
            ErrorResponse.model_validate(answer.json())
