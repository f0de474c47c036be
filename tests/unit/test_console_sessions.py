"""The rule that keeps a console session alive (issue 24): the API key that opened it must still
be current in the registry and be its agency's; judged on every request."""

from __future__ import annotations

import datetime as dt

from smartcity_th.contracts.agencies import Agency
from smartcity_th.contracts.common import AgencyKind
from smartcity_th.contracts.registry import (
    ApiKeyIssued,
    ApiKeyRevoked,
    Registry,
    agency_event,
    registry_event,
)
from smartcity_th.services.console.sessions import session_refusal

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
OPS = Agency("depa-ops", AgencyKind.DEPA, "ฝ่ายปฏิบัติการ", "Operations", None)
DIGEST = "a1" * 32
KEY_ID = DIGEST[:16]
ISSUED = ApiKeyIssued(key_id=KEY_ID, agency_id=OPS.agency_id, key_sha256=DIGEST, issued_at=T0)


def registry(*payloads: object) -> Registry:
    state = Registry()
    for p in payloads:
        state.apply(registry_event(p, T0))  # type: ignore[arg-type]
    return state


def test_a_session_stands_while_its_key_is_current_in_the_registry() -> None:
    """An agency onboarded through the registry (not in the CSV directory) is enough."""
    state = registry(agency_event(OPS), ISSUED)
    assert session_refusal(state, OPS.agency_id, KEY_ID, T0 + dt.timedelta(hours=1)) is None


def test_revoking_the_key_ends_the_session_from_the_revocation_on() -> None:
    revoked_at = T0 + dt.timedelta(hours=2)
    state = registry(
        agency_event(OPS), ISSUED, ApiKeyRevoked(**ISSUED.model_dump(), revoked_at=revoked_at)
    )
    assert session_refusal(state, OPS.agency_id, KEY_ID, revoked_at - dt.timedelta(1)) is None
    assert session_refusal(state, OPS.agency_id, KEY_ID, revoked_at) == "key_not_current"


def test_a_session_without_a_key_another_agencys_key_or_an_unknown_agency_does_not_stand() -> None:
    state = registry(agency_event(OPS), ISSUED)
    later = T0 + dt.timedelta(minutes=1)
    assert session_refusal(state, OPS.agency_id, None, later) == "no_key"
    assert session_refusal(state, "depa", KEY_ID, later) == "key_not_current"
    assert session_refusal(state, OPS.agency_id, "0" * 16, later) == "key_not_current"
    assert session_refusal(registry(ISSUED), OPS.agency_id, KEY_ID, later) == "key_not_current"
