"""The agency registry's events and the pure fold every service's projection applies."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from smartcity_th.contracts.agencies import Agency, UnknownAgency, agencies
from smartcity_th.contracts.common import AgencyKind
from smartcity_th.contracts.registry import (
    AgencyUpdated,
    ApiKeyIssued,
    ApiKeyRevoked,
    Registry,
    RegistryRecordError,
    SigningKeyRegistered,
    SigningKeyRevoked,
    agency_event,
    parse_registry_record,
    registry_event,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
UDON = Agency(
    "lg-udon-thani-city",
    AgencyKind.LOCAL_GOVERNMENT,
    "เทศบาลนครอุดรธานี",
    "Udon Thani City Municipality",
    "41",
)


def fold(*payloads: object) -> Registry:
    state = Registry()
    for p in payloads:
        # Through the wire form, as a projection reads it.
        state.apply(parse_registry_record(registry_event(p, T0).to_bytes()))  # type: ignore[arg-type]
    return state


def test_the_csv_seed_round_trips_every_agency() -> None:
    state = fold(*(agency_event(a) for a in agencies().values()))
    assert state.agencies == agencies()


def test_an_update_replaces_the_agency_and_the_subject_is_the_record_key() -> None:
    renamed = AgencyUpdated(**agency_event(UDON).model_dump() | {"name_en": "Udon Thani City"})
    assert registry_event(renamed).subject == "agency:lg-udon-thani-city"
    state = fold(agency_event(UDON), renamed)
    assert state.agency("lg-udon-thani-city").name_en == "Udon Thani City"
    with pytest.raises(UnknownAgency):
        state.agency("lg-atlantis")


def test_signing_keys_keep_their_history_when_revoked() -> None:
    public = base64.b64encode(bytes(32)).decode()
    key_id = "lg-udon-thani-city:0123456789abcdef"
    registered = SigningKeyRegistered(
        key_id=key_id, agency_id=UDON.agency_id, public_key=public, registered_at=T0
    )
    revoked = SigningKeyRevoked(
        **registered.model_dump(), revoked_at=T0 + dt.timedelta(days=1), reason="lost"
    )
    assert registry_event(revoked).subject == registry_event(registered).subject
    state = fold(agency_event(UDON), registered, revoked)
    key = state.signing_keys[key_id]
    assert key.current_at(T0 + dt.timedelta(hours=1))
    assert not key.current_at(T0 + dt.timedelta(days=2))


def test_an_api_key_is_current_until_revoked_and_only_for_a_known_agency() -> None:
    digest = "ab" * 32
    issued = ApiKeyIssued(
        key_id=digest[:16], agency_id=UDON.agency_id, key_sha256=digest, issued_at=T0
    )
    later = T0 + dt.timedelta(hours=1)
    assert fold(issued).current_api_key(digest, later) is None  # agency not registered
    state = fold(agency_event(UDON), issued)
    assert state.current_api_key(digest, later) is not None
    state.apply(registry_event(ApiKeyRevoked(**issued.model_dump(), revoked_at=later)))
    assert state.current_api_key(digest, later) is None


@pytest.mark.parametrize("value", [None, b"", b"[]", b'{"event_type": "NoSuch"}', b"\xff"])
def test_what_is_not_a_registry_event_is_refused_with_a_reason(value: bytes | None) -> None:
    with pytest.raises(RegistryRecordError):
        parse_registry_record(value)


def test_a_revocation_is_final() -> None:
    """Issue 24: a later registration of a revoked key id (a replayed or forged record, or an
    admin's mistake) changes nothing, and says why; the admin refuses to write one."""
    public = base64.b64encode(bytes(range(32))).decode()
    key_id = "lg-udon-thani-city:00112233445566ff"
    registered = SigningKeyRegistered(
        key_id=key_id, agency_id=UDON.agency_id, public_key=public, registered_at=T0
    )
    revoked = SigningKeyRevoked(**registered.model_dump(), revoked_at=T0 + dt.timedelta(days=1))
    again = SigningKeyRegistered(
        **registered.model_dump() | {"registered_at": T0 + dt.timedelta(days=2)}
    )
    later_revocation = SigningKeyRevoked(
        **registered.model_dump(), revoked_at=T0 + dt.timedelta(days=30)
    )
    state = fold(agency_event(UDON), registered, revoked)
    for attempt in (again, later_revocation):
        reason = state.refusal(attempt)
        assert reason is not None
        assert "revocation is final" in reason
        assert state.apply(registry_event(attempt)) == reason
    key = state.signing_keys[key_id]
    assert key.revoked_at == T0 + dt.timedelta(days=1)
    assert not key.current_at(T0 + dt.timedelta(days=3))

    digest = "cd" * 32
    issued = ApiKeyIssued(
        key_id=digest[:16], agency_id=UDON.agency_id, key_sha256=digest, issued_at=T0
    )
    api_revoked = ApiKeyRevoked(**issued.model_dump(), revoked_at=T0 + dt.timedelta(hours=1))
    state = fold(agency_event(UDON), issued, api_revoked, issued)
    assert state.current_api_key(digest, T0 + dt.timedelta(days=1)) is None
    assert state.refusal(issued) is not None
    # Unrevoked keys may be registered again (the same event, idempotent).
    state = fold(agency_event(UDON), registered, registered)
    assert state.signing_keys[key_id].revoked_at is None


def test_a_key_id_is_current_by_id_by_the_same_rule_as_by_hash() -> None:
    digest = "ef" * 32
    issued = ApiKeyIssued(
        key_id=digest[:16], agency_id=UDON.agency_id, key_sha256=digest, issued_at=T0
    )
    state = fold(agency_event(UDON), issued)
    later = T0 + dt.timedelta(minutes=5)
    assert state.current_api_key_by_id(digest[:16], later) == state.current_api_key(digest, later)
    state.apply(registry_event(ApiKeyRevoked(**issued.model_dump(), revoked_at=later)))
    assert state.current_api_key_by_id(digest[:16], later) is None
    assert state.current_api_key_by_id("0" * 16, later) is None
