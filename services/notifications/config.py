from __future__ import annotations

import datetime as dt

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from smartcity_th.services.common.settings import ServiceSettings
from smartcity_th.services.notifications.office import Office


class NotificationsSettings(ServiceSettings):
    """Environment variables: NOTIFICATIONS_<FIELD>, e.g. NOTIFICATIONS_SMTP_HOST."""

    model_config = SettingsConfigDict(
        env_prefix="NOTIFICATIONS_", extra="ignore", env_nested_delimiter="__"
    )

    mongo_db: str = Field("smartcity_notifications", description="This service's database")
    http_port: int = Field(8003, description="Port of the HTTP API")
    consumer_group: str = Field("notifications", description="Kafka consumer group id")
    smtp_host: str = Field("127.0.0.1", description="SMTP server host")
    smtp_port: int = Field(1025, description="SMTP server port")
    smtp_username: str | None = Field(None, description="SMTP user, if the server needs one")
    smtp_password: str | None = Field(None, description="SMTP password")
    smtp_starttls: bool = Field(False, description="Upgrade the connection with STARTTLS")
    smtp_timeout_seconds: float = Field(10.0, gt=0, description="SMTP command timeout")
    mail_from_address: str = Field(
        "smartcity@depa.example.go.th",
        description="Envelope and From address (replies go to the owning unit's mailbox, "
        "NOTIFICATIONS_OFFICE__EMAIL, by Reply-To)",
    )
    office: Office = Field(
        default_factory=Office,
        description="The sending office: letterhead, register prefix, signatory, owning unit "
        "(NOTIFICATIONS_OFFICE__<FIELD>, e.g. NOTIFICATIONS_OFFICE__REGISTER_PREFIX)",
    )
    go_live: dt.date | None = Field(
        None,
        description="The deployment's go-live date, as APPROVALS_GO_LIVE: events that took "
        "effect before it (history replayed or imported) are recorded and shown but cause no "
        "letter. Empty: every event is told",
    )
    mail_from_name: str = Field(
        "สำนักงานเมืองอัจฉริยะประเทศไทย (Smart City Thailand Office)", description="From display name"
    )
    message_id_domain: str = Field(
        "smartcity.example.go.th", description="Right-hand side of Message-IDs"
    )
    status_url: str | None = Field(
        None,
        description="Public base URL of the status pages the emails link to (empty: "
        "http://<http_host>:<http_port> of this service)",
    )
    certificate_url: str = Field(
        "http://127.0.0.1:8002",
        description="Public base URL of the approvals service's certificate pages: the "
        "verification link printed on the certificate an award letter encloses "
        "(<url>/certificates/<number>)",
    )
    status_link_secret: SecretStr | None = Field(
        None,
        description="Key that signs the status-page links (empty: a random key is made once "
        "and kept in this service's database, shared by its instances)",
    )
    status_link_days: int = Field(
        800,
        ge=1,
        description="How long a status-page link in an email stays valid, in days (longer "
        "than the two-year delivery period an award letter's link must follow)",
    )

    @property
    def status_base_url(self) -> str:
        return self.status_url or f"http://{self.http_host}:{self.http_port}"

    letter_pdf: bool = Field(
        True,
        description="Attach each letter (and the award's certificate) as a PDF. Off only to "
        "measure the sending without them (make bench --no-letter-pdf): the letters still say "
        "what they enclose",
    )
    send_max_attempts: int = Field(8, ge=1, description="SMTP attempts before a message fails")
    send_base_delay_seconds: float = Field(1.0, gt=0, description="First retry delay")
    send_max_delay_seconds: float = Field(60.0, gt=0, description="Longest retry delay")
    digest_hour: int = Field(
        7, ge=0, le=23, description="Hour (Thailand time) the daily digests are sent"
    )
    sender_poll_seconds: float = Field(
        120.0,
        gt=0,
        description="How often the sender looks through the whole delivery log for due mail "
        "(mail this process queues or retries is sent without waiting for it)",
    )
