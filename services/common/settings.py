"""Settings common to every service; each service subclasses with its own env prefix."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcity_th.contracts.access import service_principal
from smartcity_th.contracts.signing import (
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_SKEW,
    DEFAULT_V1_ACCEPTED_UNTIL,
    ClaimPolicy,
)
from smartcity_th.contracts.topics import DEFAULT_PARTITIONS, Topics
from smartcity_th.services.common.kafka_auth import KafkaAuth, Mechanism, Protocol, default_protocol
from smartcity_th.services.common.mongo import with_local_credentials


class ServiceSettings(BaseSettings):
    """Loopback defaults so that `python -m smartcity_th.services.<name>` works against
    `make infra-up`."""

    model_config = SettingsConfigDict(extra="ignore")

    mongo_db: str = Field(description="This service's database")
    http_port: int = Field(description="Port of the HTTP API")
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    kafka_security_protocol: Protocol = Field(
        default_factory=default_protocol,
        description="SASL_PLAINTEXT, SASL_SSL (TLS), or PLAINTEXT (only with the "
        "SMARTCITY_KAFKA_INSECURE=1 debugging switch)",
    )
    kafka_sasl_mechanism: Mechanism = Field("SCRAM-SHA-512", description="SASL mechanism")
    kafka_username: str = Field(
        "", description="Kafka principal (default: svc-<service>, the service's own)"
    )
    kafka_password: SecretStr = Field(
        SecretStr(""),
        description="Its password (default: the local stack's, from .local/kafka/credentials)",
    )
    kafka_metadata_max_age_seconds: float = Field(
        10.0,
        gt=0,
        description="How often the Kafka client refreshes which node leads each partition. "
        "aiokafka's consumer keeps fetching from a lost leader until then (its default, 300 s, "
        "stalled a consumer for minutes after a node of a cluster died: docs/reliability.md)",
    )
    kafka_ssl_cafile: str | None = Field(None, description="CA bundle for SASL_SSL")
    kafka_ssl_certfile: str | None = Field(None, description="Client certificate for TLS")
    kafka_ssl_keyfile: str | None = Field(None, description="Its private key")
    topic_namespace: str = Field("", description="Prefix for every topic name (tests use one)")
    topic_partitions: int = Field(DEFAULT_PARTITIONS, ge=1, description="Partitions per topic")
    mongo_url: str = Field(
        "mongodb://127.0.0.1:27017",
        description="MongoDB / FerretDB URL with this service's own user and password "
        "(FerretDB: mongodb://svc-<service>:PASSWORD@host:port/?authMechanism=PLAIN); a URL "
        "without a user logs in as svc-<service> with the local stack's password, from "
        ".local/store/credentials",
    )
    mongo_max_pool_size: int = Field(
        10,
        ge=1,
        le=100,
        description="Most connections this process opens to the store (summed over every "
        "process, it stays well under FerretDB's PostgreSQL pool: docs/architecture.md)",
    )
    http_host: str = Field("127.0.0.1", description="Address the HTTP API listens on")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool = Field(True, description="JSON logs (false: human-readable console logs)")
    outbox_sweep_seconds: float = Field(
        120.0,
        gt=0,
        description="Backstop interval of the relay's pass for commits another process left "
        "unpublished (a failed publish in this process wakes it at once)",
    )
    outbox_grace_seconds: float = Field(
        2.0, ge=0, description="Age before the relay takes over an entry the writer left behind"
    )
    outbox_publish_on_write: bool = Field(
        True,
        description="The writer publishes its events right after its write (false: only "
        "the relay publishes them; for tests of a crash between storing and publishing)",
    )
    outbox_relay_enabled: bool = Field(
        True, description="Run the relay that publishes commits a writer left unpublished"
    )
    max_body_bytes: int = Field(
        256 * 1024,
        ge=1,
        description="Largest accepted request body (checked from Content-Length and while a "
        "chunked body streams in)",
    )
    startup_wait_seconds: float = Field(
        0.0,
        ge=0,
        description="How long start-up waits for Kafka and MongoDB to be reachable (0: as long "
        "as it takes, logging each try; a service started during an outage then starts after it)",
    )
    consumer_max_attempts: int = Field(
        5, ge=1, description="Processing attempts before a message is dead-lettered"
    )
    signing_key_file: Path | None = Field(
        None,
        description="PEM file of this service's Ed25519 signing key, registered in the agency "
        "registry for svc-<service> (`smartcity-admin signing-key ensure svc-<service> --out "
        "DIR`; `make up` keeps one per service in .local/service-signing-keys/): it signs "
        "every fact the service commits (and, for approvals, every certificate it awards). "
        "Empty: facts and certificates go unsigned, and consumers refuse those facts once "
        'the service has a registered key (docs/security.md, "Signed facts")',
    )
    tracing_enabled: bool = Field(
        True, description="Send OpenTelemetry traces (HTTP, Kafka, MongoDB, SMTP) over OTLP"
    )
    otlp_endpoint: str = Field(
        "http://127.0.0.1:4318",
        description="OTLP/HTTP endpoint the traces go to (Jaeger in the local stack)",
    )

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_namespace)

    def store_url(self, service: str) -> str:
        """The store URL this service connects with: as configured when it names a user,
        otherwise as `svc-<service>` with the local stack's password."""
        return with_local_credentials(self.mongo_url, service_principal(service))

    def kafka_auth(self, service: str) -> KafkaAuth:
        """How this service connects to Kafka: as `svc-<service>` unless configured."""
        return KafkaAuth.for_principal(
            self.kafka_bootstrap,
            self.kafka_username or service_principal(service),
            password=self.kafka_password.get_secret_value(),
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            ssl_cafile=self.kafka_ssl_cafile,
            ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
        )


class ClaimOwnerSettings(ServiceSettings):
    """The settings of a service that owns claims on the intake topic (proposals, approvals):
    how it judges a claim's signature (docs/events.md, "Signed claims")."""

    claim_max_age_seconds: float = Field(
        DEFAULT_MAX_AGE.total_seconds(),
        gt=0,
        description="Longest time between a claim's signing (its smartcity-signed-at) and the "
        "broker taking it; older claims are refused as expired. The kits sign again on every "
        "send, so this covers the Kafka client's own retries of one send (40 s in the Python "
        "kit, 120 s in the Java kit) and clock differences",
    )
    claim_max_skew_seconds: float = Field(
        DEFAULT_MAX_SKEW.total_seconds(),
        ge=0,
        description="How far a claim's signed-at time may lie after the broker's clock before "
        "the claim is refused as expired",
    )
    claim_v1_accepted_until: dt.datetime = Field(
        DEFAULT_V1_ACCEPTED_UNTIL,
        description="Claims signed in signature version 1 (without topic and time) are "
        "accepted until this time and refused after it as deprecated_version (ISO 8601 with "
        "a UTC offset)",
    )

    def claim_policy(self) -> ClaimPolicy:
        until = self.claim_v1_accepted_until
        return ClaimPolicy(
            max_age=dt.timedelta(seconds=self.claim_max_age_seconds),
            max_skew=dt.timedelta(seconds=self.claim_max_skew_seconds),
            v1_accepted_until=until if until.tzinfo else until.replace(tzinfo=dt.UTC),
        )
