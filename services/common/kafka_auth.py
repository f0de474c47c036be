"""Kafka client authentication: the one place every Kafka client gets its credentials.

- `KafkaAuth` is how a client connects (bootstrap, security protocol, SASL mechanism, user,
  password, optional TLS files). It turns into aiokafka keyword arguments, a FastStream security
  object, or a librdkafka configuration, so services, tests, chaos, bench and the CLI all
  authenticate the same way, producers, consumers and admin clients alike (`admin_auth` is the
  stack's admin; what the admin may do is `kafka_admin.py`).
- Passwords of the local stack are generated once per stack by `infra/stack.sh` (written into
  the broker's metadata at storage-format time, KIP-900) and kept in `.local/kafka/credentials`
  (`<principal> <password>` lines, mode 600, never committed). A client whose password is not
  given in its settings reads it from there.
- `authenticate` connects once and reports a refusal as what it is.

`SMARTCITY_KAFKA_INSECURE=1` is the debugging switch: the local broker then runs PLAINTEXT with
no authorizer and every client connects without SASL. It is off by default.
"""

from __future__ import annotations

import asyncio
import os
import ssl
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
from faststream.security import BaseSecurity, SASLScram256, SASLScram512
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from smartcity_th.contracts import access
from smartcity_th.services.common import local_credentials

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
