from __future__ import annotations

import datetime as dt

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from smartcity_th.contracts.approvals import DELIVERY_YEARS, RENEWAL_MIN_PROGRESS_PERCENT
from smartcity_th.services.common.settings import ClaimOwnerSettings


class ApprovalsSettings(ClaimOwnerSettings):
    """Environment variables: APPROVALS_<FIELD>, e.g. APPROVALS_MONGO_URL."""

    model_config = SettingsConfigDict(env_prefix="APPROVALS_", extra="ignore")

    mongo_db: str = Field("smartcity_approvals", description="This service's database")
    http_port: int = Field(8002, description="Port of the HTTP API")
    consumer_group: str = Field("approvals", description="Kafka consumer group id")
    deadline_scan_seconds: float = Field(
        3600.0, gt=0, description="How often the delivery-deadline scan runs"
    )
    stage_gauge_seconds: float = Field(
        300.0,
        gt=0,
        description="Shortest interval between refreshes of the cases-by-stage gauge: it is "
        "refreshed after a case changes in this process, and every ten intervals otherwise "
        "(FerretDB counts by reading every case: about 1 s of PostgreSQL per stage with 10,000)",
    )
    delivery_years: int = Field(
        DELIVERY_YEARS,
        ge=1,
        le=10,
        description="Years a certified area has to show delivery (public source for two: "
        "opengovasia.com, 2020); recorded on each certificate at its award and renewal",
    )
    renewal_min_progress_percent: int = Field(
        RENEWAL_MIN_PROGRESS_PERCENT,
        ge=0,
        le=100,
        description="Progress (percent) an acknowledged delivery report needs for a renewal; "
        "a deployment setting (no public source gives a threshold), recorded on each "
        "certificate at its award",
    )
    certificate_url: str | None = Field(
        None,
        description="Public base URL of the certificate pages (/certificates/<number>) that "
        "certificates link to (empty: http://<http_host>:<http_port> of this service)",
    )
    go_live: dt.date | None = Field(
        None,
        description="The deployment's go-live date: deadlines before it get no reminders "
        "(history). Empty: only the day each certificate was recorded counts",
    )

    @property
    def certificate_base_url(self) -> str:
        return self.certificate_url or f"http://{self.http_host}:{self.http_port}"
