"""Kafka administration, only with the admin's credentials: the project's topics, the ACLs of
each principal (`smartcity_th.contracts.access` says who may do what; a service's principal is
named once, `contracts/common.py` `service_principal`), and the agencies' SCRAM users.

`KafkaAdmin` (confluent-kafka's AdminClient, librdkafka underneath) creates a namespace's topics
and applies every service principal's ACLs for it (`provision`), and adds or revokes agency
principals (SCRAM user + ACLs). aiokafka's admin client has no SCRAM-credential API, hence
librdkafka here. How the admin client connects is `kafka_auth.py` (`admin_auth`).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from pydantic import SecretStr

from smartcity_th.contracts import access
from smartcity_th.contracts.topics import ALL_TOPICS, Topics
from smartcity_th.services.common.kafka_auth import KafkaAuth, admin_auth

SCRAM_ITERATIONS = 8192
REGISTRY_PARTITIONS = 1


def new_password() -> str:
    return secrets.token_urlsafe(24)


class KafkaAdminError(RuntimeError):
    pass


def _code(exc: BaseException) -> int | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        code: int = exc.args[0].code()
        return code
    return None


def _wait(futures: dict[Any, Any], ignore: Iterable[int] = ()) -> None:
    ignored = set(ignore)
    for what, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            if _code(exc) in ignored:
                continue
            raise KafkaAdminError(f"{what}: {exc.args[0]}") from exc


def _binding(rule: access.Rule) -> AclBinding:
    return AclBinding(
        ResourceType[rule.resource.value],
        rule.name,
        ResourcePatternType[rule.pattern.value],
        rule.kafka_principal,
        "*",
        AclOperation[rule.operation.value],
        AclPermissionType.ALLOW,
    )


def _filter(rule: access.Rule) -> AclBindingFilter:
    return AclBindingFilter(
        ResourceType[rule.resource.value],
        rule.name,
        ResourcePatternType[rule.pattern.value],
        rule.kafka_principal,
        "*",
        AclOperation[rule.operation.value],
        AclPermissionType.ALLOW,
    )


def _match_any(restype: ResourceType, principal: str | None = None) -> AclBindingFilter:
    """Every ACL of a resource type (of one principal): None matches anything (librdkafka's
    filter semantics; the type stubs say str)."""
    return AclBindingFilter(
        restype,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        principal,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


class KafkaAdmin:
    """Admin operations with the admin's credentials (synchronous; see the async helpers)."""

    def __init__(self, auth: KafkaAuth, timeout_s: float = 30.0) -> None:
        self.auth = auth
        self.timeout_s = timeout_s
        self._client = AdminClient(dict(auth.librdkafka()))
        self.secure = auth.sasl

    def existing_topics(self) -> set[str]:
        meta = self._client.list_topics(timeout=self.timeout_s)
        return set(meta.topics)

    def create_topics(
        self, partitions: dict[str, int], configs: dict[str, dict[str, str]]
    ) -> list[str]:
        missing = [name for name in partitions if name not in self.existing_topics()]
        if missing:
            futures = self._client.create_topics(
                [
                    NewTopic(  # replicas: the cluster's default.replication.factor (KIP-464)
                        name,
                        num_partitions=partitions[name],
                        replication_factor=-1,
                        config=configs.get(name, {}),
                    )
                    for name in missing
                ],
                request_timeout=self.timeout_s,
            )
            _wait(futures, ignore=[KafkaError.TOPIC_ALREADY_EXISTS])
        deadline = time.monotonic() + self.timeout_s
        while set(missing) - self.existing_topics():
            if time.monotonic() > deadline:
                raise KafkaAdminError(f"topics not visible after creation: {missing}")
            time.sleep(0.1)
        return missing

    def set_topic_configs(self, configs: dict[str, dict[str, str]]) -> None:
        """Set these configs on existing topics (an incremental SET: other configs stay)."""
        resources = [
            ConfigResource(
                ConfigResource.Type.TOPIC,
                name,
                incremental_configs=[
                    ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                    for key, value in entries.items()
                ],
            )
            for name, entries in configs.items()
        ]
        if resources:
            _wait(self._client.incremental_alter_configs(resources, request_timeout=self.timeout_s))

    def topic_configs(self, topic: str) -> dict[str, str]:
        """A topic's configs as the broker reports them (defaults included)."""
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        [future] = self._client.describe_configs(
            [resource], request_timeout=self.timeout_s
        ).values()
        return {name: str(entry.value) for name, entry in future.result().items()}

    def delete_topics(self, names: Iterable[str]) -> None:
        present = [n for n in names if n in self.existing_topics()]
        if present:
            futures = self._client.delete_topics(present, request_timeout=self.timeout_s)
            _wait(futures, ignore=[KafkaError.UNKNOWN_TOPIC_OR_PART])

    def apply(self, rules: Iterable[access.Rule]) -> None:
        bindings = [_binding(r) for r in rules]
        if self.secure and bindings:
            _wait(self._client.create_acls(bindings, request_timeout=self.timeout_s))

    def revoke(self, rules: Iterable[access.Rule]) -> None:
        filters = [_filter(r) for r in rules]
        if self.secure and filters:
            _wait(self._client.delete_acls(filters, request_timeout=self.timeout_s))

    def revoke_namespace(self, namespace: str) -> None:
        """Every ACL on a namespaced topic or group (tests' namespaces; never the bare one)."""
        if not self.secure or not namespace:
            return
        filters = [_match_any(kind) for kind in (ResourceType.TOPIC, ResourceType.GROUP)]
        doomed: list[AclBindingFilter] = []
        for flt in filters:
            found = self._client.describe_acls(flt, request_timeout=self.timeout_s).result()
            doomed += [
                AclBindingFilter(
                    b.restype,
                    b.name,
                    b.resource_pattern_type,
                    b.principal,
                    b.host,
                    b.operation,
                    b.permission_type,
                )
                for b in found
                if b.name.startswith(namespace)
            ]
        if doomed:
            _wait(self._client.delete_acls(doomed, request_timeout=self.timeout_s))

    def acls_of(self, principal: str) -> list[AclBinding]:
        flt = _match_any(ResourceType.ANY, f"User:{principal}")
        found: list[AclBinding] = self._client.describe_acls(
            flt, request_timeout=self.timeout_s
        ).result()
        return found

    def upsert_user(self, name: str, password: str) -> None:
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        futures = self._client.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(name, info, password.encode("utf-8"))],
            request_timeout=self.timeout_s,
        )
        _wait(futures)

    def disable_user(self, name: str) -> None:
        """Make `name`'s login impossible: its SCRAM credential becomes a random secret that is
        thrown away. Never a deletion: Kafka's metadata image (`ScramDelta.apply`, the same in
        4.1.1 as in 4.4.0) drops a whole mechanism's users when it replays a
        `RemoveUserScramCredentialRecord` into an empty map, which a broker does when it starts
        from a log with no metadata snapshot yet. One revoked agency whose name comes first in
        Java's hash order, then a broker restart, and every principal (the services', the
        admin's) was refused for good (docs/security.md)."""
        self.upsert_user(name, new_password())

    def has_user(self, name: str) -> bool:
        try:
            described = self._client.describe_user_scram_credentials(
                [name], request_timeout=self.timeout_s
            )
            futures = described.values() if isinstance(described, dict) else [described]
            for future in futures:
                future.result()
            return True
        except KafkaException:
            return False

    # ---- what the stack, the tests and the onboarding command do

    def provision(self, namespace: str = "", partitions: int = 6) -> list[str]:
        """Create the namespace's topics (the registry compacted, one partition; the intake and
        the fact topics stamped with the broker's LogAppendTime) and apply every service
        principal's ACLs for it; idempotent. Returns the topics created."""
        named = Topics(namespace)
        sizes = {name: partitions for name in named.all()}
        registry = f"{namespace}{access.REGISTRY}"
        sizes[registry] = REGISTRY_PARTITIONS
        # The broker stamps each claim and each fact with the time it took it: what a claim's
        # age, a fact's signing key and the facts' signing cut-over are judged by (a producer's
        # CreateTime is only its own word). Set on a topic made before, too.
        stamped = {
            name: {"message.timestamp.type": "LogAppendTime"}
            for name in (named.intake, *(named.name(t) for t in access.fact_topic_owners()))
        }
        created = self.create_topics(sizes, {registry: {"cleanup.policy": "compact"}, **stamped})
        self.set_topic_configs(stamped)
        self.apply(access.all_service_rules(namespace))
        return created

    def deprovision(self, namespace: str) -> None:
        """Delete a (non-empty) namespace's topics and every ACL on its topics and groups."""
        if not namespace:
            raise KafkaAdminError("refusing to deprovision the production namespace ('')")
        self.delete_topics([*Topics(namespace).all(), f"{namespace}{access.REGISTRY}"])
        self.revoke_namespace(namespace)

    def add_agency(self, agency_id: str, password: str | None = None, namespace: str = "") -> str:
        """Create or reset the agency's SCRAM-SHA-512 user and grant its ACLs; returns the
        password (generated when not given)."""
        rules = access.agency_rules(agency_id, namespace)
        secret = password or new_password()
        self.apply(rules)
        if self.secure:
            self.upsert_user(agency_id, secret)
            self._wait_for_login(agency_id, secret, accepted=True)
        return secret

    def can_login(self, name: str, password: str) -> bool:
        auth = self.auth.model_copy(update={"username": name, "password": SecretStr(password)})
        probe = AdminClient({**auth.librdkafka(), "log_level": 0})
        try:
            probe.list_topics(timeout=3)
            return True
        except KafkaException:
            return False

    def _wait_for_login(self, name: str, password: str, *, accepted: bool) -> None:
        """Credentials reach the broker through the metadata log a moment after the controller
        accepted them: return once a login is (or is no longer) accepted."""
        deadline = time.monotonic() + self.timeout_s
        while self.can_login(name, password) is not accepted:
            if time.monotonic() > deadline:
                state = "accepted" if accepted else "refused"
                raise KafkaAdminError(f"{name}'s login not {state} after {self.timeout_s} s")
            time.sleep(0.2)

    def remove_agency(self, agency_id: str, namespace: str = "") -> None:
        """Revoke: the agency's password stops working (new connections are refused at once;
        see `disable_user` for why the user is not deleted) and its ACLs go (an open
        connection loses every permission)."""
        rules = access.agency_rules(agency_id, namespace)  # refuses reserved names
        if self.secure:
            self.disable_user(agency_id)
        self.revoke(rules)


# ---------------------------------------------------------------- async wrappers


async def provision(topics: Topics, partitions: int, auth: KafkaAuth | None = None) -> list[str]:
    admin = KafkaAdmin(auth or admin_auth())
    return await asyncio.to_thread(admin.provision, topics.namespace, partitions)


async def deprovision(topics: Topics, auth: KafkaAuth | None = None) -> None:
    admin = KafkaAdmin(auth or admin_auth())
    await asyncio.to_thread(admin.deprovision, topics.namespace)


async def add_agency_principal(
    agency_id: str, password: str | None = None, namespace: str = "", auth: KafkaAuth | None = None
) -> str:
    """Onboarding: the agency's SCRAM user and ACLs (see `KafkaAdmin.add_agency`)."""
    admin = KafkaAdmin(auth or admin_auth())
    return await asyncio.to_thread(admin.add_agency, agency_id, password, namespace)


async def remove_agency_principal(
    agency_id: str, namespace: str = "", auth: KafkaAuth | None = None
) -> None:
    """Revocation: disable the agency's SCRAM login and remove its ACLs (see
    `KafkaAdmin.remove_agency`)."""
    admin = KafkaAdmin(auth or admin_auth())
    await asyncio.to_thread(admin.remove_agency, agency_id, namespace)


def namespace_of(names: Iterable[str]) -> str:
    """The namespace of a list of the project's topic names (all must share it)."""
    spaces = set()
    for name in names:
        bare = next((b for b in (*ALL_TOPICS, access.REGISTRY) if name.endswith(b)), None)
        if bare is None:
            raise KafkaAdminError(f"{name!r} is not one of the project's topics")
        spaces.add(name[: -len(bare)])
    if len(spaces) != 1:
        raise KafkaAdminError(f"topics of several namespaces: {sorted(spaces)}")
    return spaces.pop()
