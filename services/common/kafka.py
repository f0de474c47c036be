"""Kafka plumbing: the broker every service uses, and the admin path for topics.

Services never create topics: the admin does (`smartcity kafka provision`, `infra/services.sh`
at `make up`, the tests' fixtures), and applies the ACLs with them. A service only checks, at
start, that the topics it uses exist.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker

from contracts import access
from contracts.topics import Topics
from services.common.kafka_security import (
    KafkaAuth,
    admin_auth,
    authenticate,
    deprovision,
    namespace_of,
    provision,
)
from services.common.settings import ServiceSettings


class TopicsMissing(ConnectionError):
    """The topics a service needs do not exist (yet): the admin has not provisioned them."""


def make_broker(settings: ServiceSettings, client_id: str) -> KafkaBroker:
    """Idempotent producer with acks=all: a publish is confirmed once every in-sync replica has
    it, and retries never write a record twice. Authenticated as the service's principal."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        graceful_timeout=15.0,
        logger=None,
        security=settings.kafka_auth(client_id).faststream(),
    )


def needed_topics(service: str, topics: Topics) -> set[str]:
    """The topics a service reads or writes (its ACLs name exactly these)."""
    return {
        rule.name
        for rule in access.service_rules(service, topics.namespace)
        if rule.resource is access.Resource.TOPIC
    }


async def check_topics(auth: KafkaAuth, service: str, topics: Topics) -> None:
    """Authenticate (`KafkaAuthenticationError` when refused), then raise `TopicsMissing`
    unless every topic the service uses exists (and it may see it)."""
    await authenticate(auth)
    admin = AIOKafkaAdminClient(**auth.aiokafka(), client_id=f"{service}-startup")
    await admin.start()
    try:
        missing = sorted(needed_topics(service, topics) - set(await admin.list_topics()))
    finally:
        await admin.close()
    if missing:
        raise TopicsMissing(
            f"topics missing: {', '.join(missing)}; the admin creates them "
            f"(`smartcity kafka provision --namespace '{topics.namespace}'`)"
        )


async def ensure_topics(bootstrap: str, topics: Topics, partitions: int) -> list[str]:
    """As the admin: create the namespace's topics and apply its ACLs; returns those created."""
    return await provision(topics, partitions, admin_auth(bootstrap))


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    """As the admin: delete a test namespace's topics and every ACL of that namespace."""
    await deprovision(Topics(namespace_of(names)), admin_auth(bootstrap))
