"""The dead-letter record: what a consumer could not take, with everything needed to replay it."""

from __future__ import annotations

import base64

from pydantic import Field

from smartcity_th.contracts.common import Contract, UtcDateTime


class DeadLetter(Contract):
    """A message a consumer refused or could not process after bounded retries.

    Published to the dead-letter topic, keyed like the original message. The original bytes
    are kept exactly (base64) so that a replay re-publishes what was received.
    """

    dead_letter_id: str = Field(description="Unique id of this record (uuid)")
    consumer: str = Field(description="The consumer group / service that refused it")
    topic: str = Field(description="Topic the original message was read from")
    partition: int = Field(ge=0, description="Partition of the original message")
    offset: int = Field(ge=0, description="Offset of the original message")
    key_b64: str | None = Field(description="The original record key, base64")
    value_b64: str = Field(description="The original record value, base64")
    headers: dict[str, str] = Field(description="The original headers (values decoded as UTF-8)")
    error_kind: str = Field(
        description="parse | validation | unauthenticated (a claim's signature) | "
        "unverified_fact (a fact its owning service did not sign) | unauthorised | processing "
        "(after retries) | unhandled (a failure outside the handler, recorded as a minimal dead "
        "letter) | contact_outside_domains (a proposal's contact address outside its "
        "applicant's registered email domains)"
    )
    error: str = Field(description="What was wrong, precisely (field and reason where known)")
    event_type: str | None = Field(description="The event_type, if it could be read")
    event_id: str | None = Field(description="The event_id, if it could be read")
    attempts: int = Field(ge=1, description="How many times processing was attempted")
    dead_lettered_at: UtcDateTime = Field(description="When it was dead-lettered")
    value_truncated: bool = Field(
        default=False,
        description="True when the original record was too large to carry whole: value, key and "
        "headers are cut, and the record cannot be replayed",
    )

    @property
    def value(self) -> bytes:
        return base64.b64decode(self.value_b64)

    @property
    def key(self) -> bytes | None:
        return None if self.key_b64 is None else base64.b64decode(self.key_b64)
