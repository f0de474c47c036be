"""The admin's side of the agency registry: the only writer of the registry topic.

Seeding from the CSV directory, onboarding an agency (registry entry, API key, signing key pair,
Kafka credentials), issuing and revoking keys. Used by the `smartcity-admin` command and by the
tests, which act as the admin would (the demo scenario runs the command).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from aiokafka import TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from smartcity_th.contracts.access import DEFAULT_AGENCY_QUOTA, AgencyQuota
from smartcity_th.contracts.agencies import Agency, agencies
from smartcity_th.contracts.common import Contract
from smartcity_th.contracts.contacts import MAX_EMAIL_DOMAINS, normal_domain
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
from smartcity_th.contracts.signing import PUBLIC_KEY_BYTES, key_id_for, raw_public_key
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.kafka import make_consumer, make_producer
from smartcity_th.services.common.kafka_admin import add_agency_principal, remove_agency_principal
from smartcity_th.services.common.kafka_auth import admin_auth
from smartcity_th.services.common.kafka_quotas import set_agency_quota

API_KEY_PREFIX = "sck_"


class RegistryRefused(LookupError):
    """The registry's rules refuse this change (`Registry.refusal`); nothing was written."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def api_key_id(key_sha256: str) -> str:
    return key_sha256[:16]


@dataclass(frozen=True)
class KafkaCredentials:
    username: str
    password: str
    mechanism: str = "SCRAM-SHA-512"


async def create_agency_kafka_credentials(
    bootstrap: str, agency_id: str, namespace: str = "", quota: AgencyQuota | None = None
) -> KafkaCredentials | None:
    """Onboarding step: the agency's Kafka principal (SCRAM user), its ACLs (write the intake
    topic, read the fact topics) and its quotas (`quota`, else the default); None when the
    broker runs without SASL (the debugging switch), where only the ACLs are applied."""
    auth = admin_auth(bootstrap)
    password = await add_agency_principal(agency_id, namespace=namespace, auth=auth)
    await set_agency_quota(auth, agency_id, quota or DEFAULT_AGENCY_QUOTA)
    return KafkaCredentials(agency_id, password) if auth.sasl else None


async def remove_agency_kafka_credentials(
    bootstrap: str, agency_id: str, namespace: str = ""
) -> None:
    """Revocation step: disable the agency's SCRAM login and remove its ACLs."""
    await remove_agency_principal(agency_id, namespace=namespace, auth=admin_auth(bootstrap))


@dataclass(frozen=True)
class NewSigningKey:
    key_id: str
    private_key: Ed25519PrivateKey

    def private_pem(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
        )

        return self.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


@dataclass(frozen=True)
class Onboarded:
    agency: Agency
    api_key: str
    signing_key_id: str
    signing_key: NewSigningKey | None
    """The key pair made here, or None when the agency gave its own public key."""
    kafka: KafkaCredentials | None


class RegistryAdmin:
    """Writes registry events; reads the registry's current state when it must decide."""

    def __init__(
        self, bootstrap: str, topics: Topics, *, client_id: str = "smartcity-admin"
    ) -> None:
        self.bootstrap = bootstrap
        self.namespace = topics.namespace
        self.topic = topics.registry
        self._client_id = client_id
        self._auth = admin_auth(bootstrap)
        self._producer = make_producer(self._auth, client_id)
        self.state = Registry()
        """The registry as read at start, plus what this admin wrote since."""

    async def __aenter__(self) -> RegistryAdmin:
        await self._producer.start()
        self.state = await self.read()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def publish(self, payload: Contract, at: dt.datetime | None = None) -> dt.datetime:
        """Write one registry event; `RegistryRefused` (nothing written) when the registry's
        rules refuse it."""
        refused = self.state.refusal(payload)
        if refused is not None:
            raise RegistryRefused(refused)
        envelope = registry_event(payload, at)
        self.state.apply(envelope)
        await self._producer.send_and_wait(
            self.topic,
            envelope.to_bytes(),
            key=envelope.subject.encode("utf-8"),
            headers=[
                ("smartcity-event-type", envelope.event_type.encode()),
                ("content-type", b"application/json"),
            ],
        )
        return envelope.occurred_at

    async def read(self) -> Registry:
        """The registry as it stands: every record up to the topic's current end."""
        tp = TopicPartition(self.topic, 0)
        consumer = make_consumer(
            self._auth, f"{self._client_id}-reader", group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        state = Registry()
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            while await consumer.position(tp) < end:
                for records in (await consumer.getmany(tp, timeout_ms=500)).values():
                    for record in records:
                        try:
                            state.apply(parse_registry_record(record.value))
                        except RegistryRecordError:
                            continue
        finally:
            await consumer.stop()
        return state

    async def seed(self, directory: dict[str, Agency] | None = None) -> tuple[int, int]:
        """Register every agency of the CSV directory that the registry does not have yet, and
        give the directory's email domains to a registered one that has none (registered before
        agencies had email domains). Returns (agencies added, agencies given domains)."""
        known = dict(self.state.agencies)
        added = given = 0
        for agency in (directory or agencies()).values():
            entry = known.get(agency.agency_id)
            if entry is None:
                await self.publish(agency_event(agency))
                added += 1
            elif agency.email_domains and not entry.email_domains:
                await self.register_agency(
                    replace(entry, email_domains=agency.email_domains), update=True
                )
                given += 1
        return added, given

    async def register_agency(self, agency: Agency, *, update: bool = False) -> None:
        event = agency_event(agency)
        await self.publish(AgencyUpdated(**event.model_dump()) if update else event)

    async def set_email_domains(
        self, agency_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> Agency:
        """Add and remove email domains of a registered agency (an `AgencyUpdated` carrying
        its whole new state; nothing written when nothing changes). `ValueError` for a string
        that is not a domain or for more than MAX_EMAIL_DOMAINS."""
        agency = self.state.agency(agency_id)  # UnknownAgency
        added = [normal_domain(d) for d in add]
        removed = {normal_domain(d) for d in remove}
        domains = tuple(
            d for d in dict.fromkeys([*agency.email_domains, *added]) if d not in removed
        )
        if len(domains) > MAX_EMAIL_DOMAINS:
            raise ValueError(f"at most {MAX_EMAIL_DOMAINS} email domains per agency")
        if domains != agency.email_domains:
            await self.register_agency(replace(agency, email_domains=domains), update=True)
        return self.state.agency(agency_id)

    async def issue_api_key(self, agency_id: str, label: str = "") -> str:
        self.state.agency(agency_id)  # UnknownAgency
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        digest = hash_key(key)
        await self.publish(
            ApiKeyIssued(
                key_id=api_key_id(digest),
                agency_id=agency_id,
                key_sha256=digest,
                label=label,
                issued_at=dt.datetime.now(dt.UTC),
            )
        )
        return key

    async def register_signing_key(
        self, agency_id: str, private_key: Ed25519PrivateKey | None = None
    ) -> NewSigningKey:
        """Generate a key pair for the agency (or take `private_key`) and register its public
        half. The weaker path: whoever runs this holds the agency's private key for a moment
        (docs/security.md); `register_public_key` with a key the agency made itself is better."""
        private_key = private_key or Ed25519PrivateKey.generate()
        key_id = await self.register_public_key(agency_id, raw_public_key(private_key))
        return NewSigningKey(key_id, private_key)

    async def register_public_key(self, agency_id: str, public_key: bytes) -> str:
        """Register an agency's Ed25519 public key (32 raw bytes); returns its key id.
        `RegistryRefused` if that key was revoked before (a revocation is final)."""
        self.state.agency(agency_id)  # UnknownAgency
        if len(public_key) != PUBLIC_KEY_BYTES:
            raise ValueError(f"an Ed25519 public key has {PUBLIC_KEY_BYTES} bytes")
        key_id = key_id_for(agency_id, public_key)
        await self.publish(
            SigningKeyRegistered(
                key_id=key_id,
                agency_id=agency_id,
                public_key=base64.b64encode(public_key).decode(),
                registered_at=dt.datetime.now(dt.UTC),
            )
        )
        return key_id

    async def onboard(
        self, agency: Agency, public_key: bytes | None = None, quota: AgencyQuota | None = None
    ) -> Onboarded:
        """One step for a new agency: registry entry, Kafka credentials with their quotas, API
        key, signing key (the agency's own `public_key`, or a key pair made here when None)."""
        await self.register_agency(agency)
        kafka = await create_agency_kafka_credentials(
            self.bootstrap, agency.agency_id, self.namespace, quota
        )
        api_key = await self.issue_api_key(agency.agency_id, "onboarding")
        if public_key is not None:
            key_id = await self.register_public_key(agency.agency_id, public_key)
            return Onboarded(agency, api_key, key_id, None, kafka)
        signing = await self.register_signing_key(agency.agency_id)
        return Onboarded(agency, api_key, signing.key_id, signing, kafka)

    async def revoke_agency(self, agency_id: str, reason: str | None = None) -> list[str]:
        """Revoke every current key of an agency and remove its Kafka credentials; returns the
        ids of the keys revoked."""
        self.state = await self.read()
        self.state.agency(agency_id)  # UnknownAgency
        ids = [
            k.key_id
            for k in self.state.signing_keys.values()
            if k.agency_id == agency_id and k.revoked_at is None
        ] + [
            a.key_id
            for a in self.state.api_keys.values()
            if a.agency_id == agency_id and a.revoked_at is None
        ]
        for key_id in ids:
            await self.revoke(key_id, reason)
        await remove_agency_kafka_credentials(self.bootstrap, agency_id, self.namespace)
        return ids

    async def revoke(self, key: str, reason: str | None = None) -> dt.datetime:
        """Revoke an API key (the key itself, its hash or its 16-digit id) or a signing key (its
        id, `<agency>:<16 hex>`), everywhere. Returns the revocation time; `LookupError` if
        there is no such current key."""
        state = await self.read()
        now = dt.datetime.now(dt.UTC)
        if ":" in key and not key.startswith(API_KEY_PREFIX):
            signing = state.signing_keys.get(key)
            if signing is None or signing.revoked_at is not None:
                raise LookupError(f"no current signing key {key!r}")
            await self.publish(
                SigningKeyRevoked(
                    key_id=signing.key_id,
                    agency_id=signing.agency_id,
                    public_key=base64.b64encode(signing.public_key).decode(),
                    registered_at=signing.registered_at,
                    revoked_at=now,
                    reason=reason,
                ),
                now,
            )
            return now
        digest = hash_key(key) if key.startswith(API_KEY_PREFIX) else key
        entry = state.api_keys.get(api_key_id(digest)) if len(digest) in (16, 64) else None
        if entry is None or entry.revoked_at is not None:
            raise LookupError(f"no current API key {key[:20]!r}")
        await self.publish(
            ApiKeyRevoked(
                key_id=entry.key_id,
                agency_id=entry.agency_id,
                key_sha256=entry.key_sha256,
                label=entry.label,
                issued_at=entry.issued_at,
                revoked_at=now,
            ),
            now,
        )
        return now


def describe(state: Registry) -> list[dict[str, Any]]:
    """Rows for `smartcity-admin list`: every key with its agency and status."""
    rows: list[dict[str, Any]] = []
    for s in state.signing_keys.values():
        rows.append(
            {
                "kind": "signing",
                "id": s.key_id,
                "agency": s.agency_id,
                "since": s.registered_at,
                "revoked": s.revoked_at,
            }
        )
    for a in state.api_keys.values():
        rows.append(
            {
                "kind": "api",
                "id": a.key_id,
                "agency": a.agency_id,
                "since": a.issued_at,
                "revoked": a.revoked_at,
            }
        )
    return rows
