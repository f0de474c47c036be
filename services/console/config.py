from __future__ import annotations

import datetime as dt

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from smartcity_th.services.common.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    """Environment variables: CONSOLE_<FIELD>, e.g. CONSOLE_MONGO_URL."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    mongo_db: str = Field("smartcity_console", description="This service's database")
    http_port: int = Field(8004, description="Port of the web console and its API")
    consumer_group: str = Field("console", description="Kafka consumer group id")
    session_hours: float = Field(12.0, gt=0, description="How long an operator login lasts")
    https: bool = Field(
        False,
        description="The console is served over HTTPS (itself or behind a TLS proxy): its cookies "
        "are Secure, the session cookie named __Host-smartcity_console",
    )
    sse_max_streams_per_session: int = Field(
        3, ge=1, description="Live streams one login (session or API key) may have open at once"
    )
    sse_poll_seconds: float = Field(
        15.0,
        gt=0,
        description="Longest wait of the live log between looks for new entries (an append in "
        "this process wakes it at once; this is the backstop for another console instance)",
    )
    go_live: dt.date | None = Field(
        None,
        description="The deployment's go-live date, as APPROVALS_GO_LIVE (the registry's "
        "certificate status treats deadlines before it as history)",
    )
    jaeger_url: str = Field(
        "http://127.0.0.1:16686",
        description="Jaeger's query service (UI and API): where the timeline's trace links point",
    )
    lag_seconds: float = Field(
        15.0, gt=0, description="How often the consumer-lag gauge is refreshed"
    )
