"""Kafka client quotas per agency principal (issue 24): `producer_byte_rate` and
`request_percentage` on the user entity `<agency id>`, set by the admin when it onboards an agency
or resets its credentials (`contracts/access.py: AgencyQuota`).

Neither confluent-kafka (librdkafka has no client-quota API) nor aiokafka's admin client alters
client quotas, so the request is sent with aiokafka's own protocol layer: AlterClientQuotas
(API key 49) version 0, the schema of Kafka's `AlterClientQuotasRequest.json`, beside aiokafka's
DescribeClientQuotas, which reads them back. Both are version 0, which Kafka 2.6 to 4.x accept.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DescribeClientQuotasRequest
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Boolean, Float64, Int16, Int32, Schema, String

from smartcity_th.contracts.access import AgencyQuota
from smartcity_th.services.common.kafka_admin import KafkaAdminError
from smartcity_th.services.common.kafka_auth import KafkaAuth

USER = "user"
MATCH_EXACT = 0


class AlterClientQuotasResponse_v0(Response):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 49
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "entries",
            Array(
                ("error_code", Int16),
                ("error_message", String("utf-8")),
                (
                    "entity",
                    Array(("entity_type", String("utf-8")), ("entity_name", String("utf-8"))),
                ),
            ),
        ),
    )


class AlterClientQuotasRequest_v0(RequestStruct):  # type: ignore[misc]
    API_KEY = 49
    API_VERSION = 0
    RESPONSE_TYPE = AlterClientQuotasResponse_v0
    SCHEMA = Schema(
        (
            "entries",
            Array(
                (
                    "entity",
                    Array(("entity_type", String("utf-8")), ("entity_name", String("utf-8"))),
                ),
                ("ops", Array(("key", String("utf-8")), ("value", Float64), ("remove", Boolean))),
            ),
        ),
        ("validate_only", Boolean),
    )


class AlterClientQuotasRequest(Request[AlterClientQuotasRequest_v0]):  # type: ignore[misc]
    API_KEY = 49

    def __init__(self, user: str, values: dict[str, float]) -> None:
        self._user = user
        self._values = values

    def build(
        self, request_struct_class: type[AlterClientQuotasRequest_v0]
    ) -> AlterClientQuotasRequest_v0:
        ops = [(key, value, False) for key, value in sorted(self._values.items())]
        return request_struct_class([([(USER, self._user)], ops)], False)


async def _admin(auth: KafkaAuth) -> AIOKafkaAdminClient:
    client = AIOKafkaAdminClient(**auth.aiokafka(), client_id="smartcity-quotas")
    await client.start()
    return client


async def set_agency_quota(auth: KafkaAuth, agency_id: str, quota: AgencyQuota) -> None:
    """Set the agency principal's quotas (as the admin). Nothing to do on a broker without
    SASL (the debugging switch), where every client is the same anonymous user."""
    if not auth.sasl:
        return
    client = await _admin(auth)
    try:
        response = await client._send_request(AlterClientQuotasRequest(agency_id, quota.as_kafka()))
    finally:
        await client.close()
    for error_code, message, _entity in response.entries:
        if error_code:
            raise KafkaAdminError(f"quota for {agency_id!r} refused ({error_code}): {message}")


async def agency_quota(auth: KafkaAuth, agency_id: str) -> dict[str, float]:
    """The quotas the broker holds for the agency principal (empty: none)."""
    client = await _admin(auth)
    try:
        response = await client._send_request(
            DescribeClientQuotasRequest([(USER, MATCH_EXACT, agency_id)], True)
        )
    finally:
        await client.close()
    if response.error_code:
        raise KafkaAdminError(f"quotas of {agency_id!r}: {response.error_message}")
    return {name: value for _entity, values in response.entries or [] for name, value in values}
