"""Kafka authentication and administration: the one place every Kafka client gets its
credentials, and the admin operations (topics, ACLs, SCRAM users) that only the admin may do.

- `KafkaAuth` is how a client connects (bootstrap, security protocol, SASL mechanism, user,
  password, optional TLS files). It turns into aiokafka keyword arguments, a FastStream security
  object, or a librdkafka configuration, so services, tests, chaos, bench and the CLI all
  authenticate the same way.
- Passwords of the local stack are generated once per stack by `infra/stack.sh` (written into
  the broker's metadata at storage-format time, KIP-900) and kept in `.local/kafka/credentials`
  (`<principal> <password>` lines, mode 600, never committed). A client whose password is not
  given in its settings reads it from there.
- `KafkaAdmin` (confluent-kafka's AdminClient, librdkafka underneath) creates topics and applies
  the ACLs of `smartcity_th.contracts.access` for a namespace, and adds or revokes agency
  principals (SCRAM user + ACLs). aiokafka's admin client has no SCRAM-credential API, hence
  librdkafka here.

`SMARTCITY_KAFKA_INSECURE=1` is the debugging switch: the local broker then runs PLAINTEXT with
no authorizer and every client connects without SASL. It is off by default.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import ssl
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest
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
from faststream.security import BaseSecurity, SASLScram256, SASLScram512
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from smartcity_th.contracts import access
from smartcity_th.contracts.topics import ALL_TOPICS, Topics
from smartcity_th.services.common import local_credentials

SCRAM_ITERATIONS = 8192
REGISTRY_PARTITIONS = 1

Protocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256"]


def insecure() -> bool:
    """The documented debugging switch (off by default): no SASL, no authorizer."""
    return os.environ.get("SMARTCITY_KAFKA_INSECURE", "").lower() in {"1", "true", "yes"}


def default_protocol() -> Protocol:
    return "PLAINTEXT" if insecure() else "SASL_PLAINTEXT"


def credentials_file() -> Path:
    return local_credentials.credentials_file("kafka", "SMARTCITY_KAFKA_CREDENTIALS_FILE")


def local_password(principal: str) -> str:
    """The local stack's password for `principal`, or "" when it has none."""
    return local_credentials.password_in(credentials_file(), principal)


def new_password() -> str:
    return secrets.token_urlsafe(24)


class KafkaAuth(BaseModel):
    """How one client connects and who it is."""

    model_config = ConfigDict(frozen=True)

    bootstrap: str
    security_protocol: Protocol = Field(default_factory=default_protocol)
    sasl_mechanism: Mechanism = "SCRAM-SHA-512"
    username: str = ""
    password: SecretStr = SecretStr("")
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @classmethod
    def for_principal(cls, bootstrap: str, principal: str, **overrides: Any) -> KafkaAuth:
        """`principal` with its local-stack password (unless one is given)."""
        password = overrides.pop("password", None) or local_password(principal)
        return cls(
            bootstrap=bootstrap, username=principal, password=SecretStr(password), **overrides
        )

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SASL_SSL", "SSL")

    def _check(self) -> None:
        if self.sasl and not (self.username and self.password.get_secret_value()):
            raise ValueError(
                f"Kafka credentials missing for {self.username or '(no user)'}: set the "
                "KAFKA_USERNAME/KAFKA_PASSWORD settings, or start the local stack "
                f"(infra/stack.sh up) so that {credentials_file()} exists"
            )

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient."""
        self._check()
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.sasl:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password.get_secret_value(),
            )
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        return options

    def faststream(self) -> BaseSecurity | None:
        """The security object for FastStream's KafkaBroker (credentials are checked when the
        service authenticates at start, not here: building a broker must work without them,
        e.g. to generate the AsyncAPI documents)."""
        context = self.ssl_context()
        if self.sasl:
            kind = SASLScram512 if self.sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
            return kind(
                self.username,
                self.password.get_secret_value(),
                ssl_context=context,
                use_ssl=self.tls,
            )
        if self.tls:
            return BaseSecurity(ssl_context=context, use_ssl=True)
        return None

    def librdkafka(self) -> dict[str, str | int | float | bool]:
        """Configuration for confluent-kafka (librdkafka) clients."""
        self._check()
        conf: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol,
        }
        if self.sasl:
            conf.update(
                {
                    "sasl.mechanisms": self.sasl_mechanism,
                    "sasl.username": self.username,
                    "sasl.password": self.password.get_secret_value(),
                }
            )
        if self.tls:
            for key, value in (
                ("ssl.ca.location", self.ssl_cafile),
                ("ssl.certificate.location", self.ssl_certfile),
                ("ssl.key.location", self.ssl_keyfile),
            ):
                if value:
                    conf[key] = value
        return conf


def bootstrap_servers(bootstrap: str) -> list[str]:
    """A comma-separated bootstrap list as a list: FastStream's KafkaBroker takes a string for
    one server (it hands aiokafka `[bootstrap]`), so "a:9092,b:9092" must be split first."""
    return [server.strip() for server in bootstrap.split(",") if server.strip()]


def default_bootstrap() -> str:
    """`SMARTCITY_KAFKA_BOOTSTRAP`, else the local stack's nodes as `infra/stack.sh bootstrap`
    lists them: `SMARTCITY_KAFKA_PORT`, and with `SMARTCITY_KAFKA_NODES=3` the next two nodes
    10 and 20 ports above it."""
    env = os.environ
    if env.get("SMARTCITY_KAFKA_BOOTSTRAP"):
        return env["SMARTCITY_KAFKA_BOOTSTRAP"]
    port = int(env.get("SMARTCITY_KAFKA_PORT", "9092"))
    nodes = int(env.get("SMARTCITY_KAFKA_NODES", "1"))
    return ",".join(f"127.0.0.1:{port + 10 * i}" for i in range(nodes))


def admin_auth(bootstrap: str | None = None) -> KafkaAuth:
    """The stack's admin: `SMARTCITY_KAFKA_ADMIN_USERNAME` / `..._PASSWORD` (and the TLS and
    protocol variables `SMARTCITY_KAFKA_SECURITY_PROTOCOL`, `SMARTCITY_KAFKA_SSL_CAFILE`), else
    the local stack's admin credentials."""
    env = os.environ
    protocol = env.get("SMARTCITY_KAFKA_SECURITY_PROTOCOL") or default_protocol()
    return KafkaAuth.for_principal(
        bootstrap or default_bootstrap(),
        env.get("SMARTCITY_KAFKA_ADMIN_USERNAME", access.ADMIN_PRINCIPAL),
        password=env.get("SMARTCITY_KAFKA_ADMIN_PASSWORD"),
        security_protocol=protocol,
        ssl_cafile=env.get("SMARTCITY_KAFKA_SSL_CAFILE") or None,
    )


class KafkaAuthenticationError(PermissionError):
    """The broker refused this client at connect: wrong or missing credentials. Not transient:
    retrying with the same settings cannot succeed."""


async def authenticate(auth: KafkaAuth, timeout_s: float = 10.0) -> None:
    """Connect to the first bootstrap server and authenticate, so that a refusal is reported as
    what it is (aiokafka's own start-up only says "Unable to bootstrap"). Raises
    `KafkaAuthenticationError` when refused; connection errors (broker down) pass through."""
    options = auth.aiokafka()
    options.pop("bootstrap_servers")
    host, _, port = auth.bootstrap.split(",")[0].strip().rpartition(":")
    who = auth.username or "(no user)"
    try:
        conn = await asyncio.wait_for(
            create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000), **options),
            timeout_s,
        )
    except SaslAuthenticationFailed as exc:
        raise KafkaAuthenticationError(
            f"Kafka at {auth.bootstrap} refused the credentials of {who} "
            f"({auth.security_protocol} {auth.sasl_mechanism}): {exc}"
        ) from None
    except (IllegalSaslStateError, UnsupportedSaslMechanismError) as exc:
        raise KafkaAuthenticationError(
            f"Kafka at {auth.bootstrap} does not offer {auth.sasl_mechanism} on this listener "
            f"(is it a broker started with SMARTCITY_KAFKA_INSECURE=1, or another stack's "
            f"port?): {exc}"
        ) from None
    try:
        await asyncio.wait_for(conn.send(MetadataRequest([])), timeout_s)
    except KafkaConnectionError as exc:
        if auth.sasl:
            raise
        raise KafkaAuthenticationError(
            f"Kafka at {auth.bootstrap} closed a {auth.security_protocol} connection without "
            f"answering: the broker requires SASL authentication and this client has no "
            f"credentials ({exc})"
        ) from None
    finally:
        conn.close()


# ---------------------------------------------------------------- administration


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
