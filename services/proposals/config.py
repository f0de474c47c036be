from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from smartcity_th.services.common.settings import ClaimOwnerSettings


class ProposalsSettings(ClaimOwnerSettings):
    """Environment variables: PROPOSALS_<FIELD>, e.g. PROPOSALS_MONGO_URL."""

    model_config = SettingsConfigDict(env_prefix="PROPOSALS_", extra="ignore")

    mongo_db: str = Field("smartcity_proposals", description="This service's database")
    http_port: int = Field(8001, description="Port of the HTTP API")
    consumer_group: str = Field("proposals", description="Kafka consumer group id")
