"""Settings common to every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topics import DEFAULT_PARTITIONS, Topics


class ServiceSettings(BaseSettings):
    """Loopback defaults so that `python -m services.<name>` works against `make infra-up`."""

    model_config = SettingsConfigDict(extra="ignore")

    mongo_db: str = Field(description="This service's database")
    http_port: int = Field(description="Port of the HTTP API")
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    topic_namespace: str = Field("", description="Prefix for every topic name (tests use one)")
    topic_partitions: int = Field(DEFAULT_PARTITIONS, ge=1, description="Partitions per topic")
    mongo_url: str = Field("mongodb://127.0.0.1:27017", description="MongoDB / FerretDB URL")
    http_host: str = Field("127.0.0.1", description="Address the HTTP API listens on")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool = Field(True, description="JSON logs (false: human-readable console logs)")
    outbox_sweep_seconds: float = Field(
        5.0, gt=0, description="How often the relay sweeps for what writers left behind"
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
        True, description="Run the relay that publishes outbox entries a writer left behind"
    )
    startup_wait_seconds: float = Field(
        120.0, ge=0, description="How long start-up waits for Kafka and MongoDB to be reachable"
    )
    consumer_max_attempts: int = Field(
        5, ge=1, description="Processing attempts before a message is dead-lettered"
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
