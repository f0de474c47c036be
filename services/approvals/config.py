from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class ApprovalsSettings(ServiceSettings):
    """Environment variables: APPROVALS_<FIELD>, e.g. APPROVALS_MONGO_URL."""

    model_config = SettingsConfigDict(env_prefix="APPROVALS_", extra="ignore")

    mongo_db: str = Field("smartcity_approvals", description="This service's database")
    http_port: int = Field(8002, description="Port of the HTTP API")
    consumer_group: str = Field("approvals", description="Kafka consumer group id")
    deadline_scan_seconds: float = Field(
        3600.0, gt=0, description="How often the delivery-deadline scan runs"
    )
    stage_gauge_seconds: float = Field(
        60.0, gt=0, description="How often the cases-by-stage gauge is refreshed"
    )
