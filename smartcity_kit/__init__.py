"""The integrator kit: what an agency system needs to make claims on the intake topic.

    from smartcity_th.kit import ClaimSigner, IntakeProducer, KafkaConnection

    signer = ClaimSigner.from_pem("lg-udon-thani-city", Path("lg-udon-thani-city_....pem"))
    conn = KafkaConnection("broker:9092", security_protocol="SASL_SSL",
                           sasl_mechanism="SCRAM-SHA-512", username="...", password="...")
    async with IntakeProducer(conn, topic="smartcity.intake") as intake:
        await intake.send(signer.claim(ProposalSubmitted(...), proposal_id="UDN-2568-01"))

A claim is the usual envelope (`smartcity_th.contracts.envelope`), keyed by its proposal id,
with the usual headers plus `smartcity-signed-at` and `smartcity-signature` (signature version 2:
see docs/events.md, "Signed claims", for the bytes signed and a test vector). The signature
covers the topic and the time of signing: `IntakeProducer.send` signs the claim again for its
own topic each time it sends it, so a claim an application sends again after an outage carries a
fresh time, and the services' maximum age only has to cover the Kafka client's own retries. The
private key stays with the agency; the registry has only its public half.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from smartcity_th.contracts import topics
from smartcity_th.contracts.common import Contract
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.signing import key_id_for, raw_public_key, sign

__all__ = ["ClaimSigner", "IntakeProducer", "KafkaConnection", "SignedRecord"]


@dataclass(frozen=True)
class KafkaConnection:
    """How to reach the broker: bootstrap servers and the agency's credentials."""

    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    """PLAINTEXT, SASL_PLAINTEXT or SASL_SSL."""
    sasl_mechanism: str | None = None
    """SCRAM-SHA-512 (or SCRAM-SHA-256) with SASL."""
    username: str | None = None
    password: str | None = None
    ssl_cafile: str | None = None
    """CA bundle for SASL_SSL (the system's default when None)."""

    @classmethod
    def from_env(cls, bootstrap: str, prefix: str = "SMARTCITY_KIT_") -> KafkaConnection:
        """`bootstrap` and credentials from `<prefix>BOOTSTRAP`, `SECURITY_PROTOCOL`,
        `SASL_MECHANISM`, `USERNAME`, `PASSWORD`, `SSL_CAFILE` where set."""

        def env(name: str) -> str | None:
            return os.environ.get(prefix + name) or None

        return cls(
            env("BOOTSTRAP") or bootstrap,
            env("SECURITY_PROTOCOL") or "PLAINTEXT",
            env("SASL_MECHANISM"),
            env("USERNAME"),
            env("PASSWORD"),
            env("SSL_CAFILE"),
        )

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            options |= {
                "sasl_mechanism": self.sasl_mechanism or "SCRAM-SHA-512",
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if self.security_protocol.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(cafile=self.ssl_cafile)
        return options


@dataclass(frozen=True)
class SignedRecord:
    """A claim as it goes on the wire: value, key and headers (the signature among them), signed
    for `topic`. With its `signer`, `IntakeProducer.send` signs it again at the time of sending;
    without one (a record made by hand) it is sent exactly as it is."""

    envelope: AnyEnvelope
    value: bytes
    key: bytes
    headers: dict[str, str]
    topic: str | None = None
    signer: ClaimSigner | None = field(default=None, compare=False, repr=False)

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        return [(name, value.encode("utf-8")) for name, value in self.headers.items()]

    def for_sending(self, topic: str) -> SignedRecord:
        """The record as it is sent to `topic` now: signed again by its signer (for that topic,
        at this moment), or unchanged if it has none."""
        if self.signer is None:
            return self
        return self.signer.sign(self.envelope, topic=topic)


class ClaimSigner:
    """Builds and signs an agency's claims."""

    def __init__(self, agency_id: str, private_key: Ed25519PrivateKey) -> None:
        self.agency_id = agency_id
        self.private_key = private_key
        self.key_id = key_id_for(agency_id, raw_public_key(private_key))

    @classmethod
    def from_pem(cls, agency_id: str, path: Path, password: bytes | None = None) -> ClaimSigner:
        key = load_pem_private_key(path.read_bytes(), password)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return cls(agency_id, key)

    def sign(
        self,
        envelope: AnyEnvelope,
        *,
        topic: str = topics.INTAKE,
        signed_at: dt.datetime | None = None,
    ) -> SignedRecord:
        """Sign an envelope as it will be sent (its exact bytes) to `topic` (with the
        deployment's namespace, if it has one), at `signed_at` (now by default)."""
        value = envelope.to_bytes()
        headers = envelope.headers()
        headers |= sign(
            self.private_key,
            self.key_id,
            value,
            envelope.key,
            headers[topics.HEADER_EVENT_TYPE],
            topic=topic,
            signed_at=signed_at or dt.datetime.now(dt.UTC),
        )
        return SignedRecord(envelope, value, envelope.key, headers, topic, self)

    def claim(
        self,
        payload: Contract,
        *,
        proposal_id: str,
        event_id: uuid.UUID | None = None,
        correlation_id: uuid.UUID | None = None,
        topic: str = topics.INTAKE,
    ) -> SignedRecord:
        """A new claim by this agency about `proposal_id`, signed for `topic` (an
        `IntakeProducer` signs it again for its own topic when it sends it). Leave `event_id`
        to the kit (a random UUID): a claim's id is its identity, and an id the service once
        refused is refused for good."""
        return self.sign(
            new_envelope(
                payload,
                producer=self.agency_id,
                proposal_id=proposal_id,
                event_id=event_id,
                correlation_id=correlation_id,
            ),
            topic=topic,
        )


class IntakeProducer:
    """Produces signed claims to the intake topic (idempotent producer, acks=all). Each `send`
    signs the claim again for this producer's topic at that moment; the client's own retries
    of one send (within its request timeout, 40 s by default) resend the same bytes."""

    def __init__(self, connection: KafkaConnection, topic: str = topics.INTAKE) -> None:
        self.topic = topic
        self._producer = AIOKafkaProducer(
            enable_idempotence=True, acks="all", **connection.client_options()
        )

    async def __aenter__(self) -> IntakeProducer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, record: SignedRecord) -> SignedRecord:
        """Send a claim (signed again now, for this topic, if it has its signer); returns the
        record as sent."""
        sent = record.for_sending(self.topic)
        await self._producer.send_and_wait(
            self.topic, sent.value, key=sent.key, headers=sent.kafka_headers()
        )
        return sent
