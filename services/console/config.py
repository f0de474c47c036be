from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    """Environment variables: CONSOLE_<FIELD>, e.g. CONSOLE_MONGO_URL."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    mongo_db: str = Field("smartcity_console", description="This service's database")
    http_port: int = Field(8004, description="Port of the web console and its API")
    consumer_group: str = Field("console", description="Kafka consumer group id")
    session_hours: float = Field(12.0, gt=0, description="How long an operator login lasts")
    sse_max_streams_per_session: int = Field(
        3, ge=1, description="Live streams one login (session or API key) may have open at once"
    )
    sse_poll_seconds: float = Field(
        15.0,
        gt=0,
        description="Longest wait of the live log between looks for new entries (an append in "
        "this process wakes it at once; this is the backstop for another console instance)",
    )
