"""`smartcity kafka ...`: the admin's commands for topics, ACLs and Kafka principals.

    smartcity kafka provision [--namespace NS] [--partitions N]
    smartcity kafka deprovision --namespace NS
    smartcity kafka principal add AGENCY_ID [--namespace NS] [--password-stdin]
    smartcity kafka principal remove AGENCY_ID [--namespace NS]
    smartcity kafka acls [--principal NAME]

They run as the stack's admin (`SMARTCITY_KAFKA_ADMIN_USERNAME` / `_PASSWORD`, else the local
stack's admin credentials) against `SMARTCITY_KAFKA_BOOTSTRAP` (else the local stack's nodes:
`infra/stack.sh bootstrap`). Also `python -m smartcity_th.services.common.kafka_cli ...`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, NoReturn

import typer
from aiokafka.errors import KafkaConnectionError
from rich.console import Console
from rich.table import Table

from smartcity_th.contracts import access
from smartcity_th.services.common.cli_conventions import Output, OutputOpt
from smartcity_th.services.common.kafka_admin import KafkaAdmin, KafkaAdminError
from smartcity_th.services.common.kafka_auth import (
    KafkaAuthenticationError,
    admin_auth,
    authenticate,
    local_password,
)
from smartcity_th.services.common.kafka_quotas import set_agency_quota

app = typer.Typer(help="Kafka administration: topics, ACLs, principals.", no_args_is_help=True)
principal_app = typer.Typer(help="Agency principals (SCRAM users + ACLs).", no_args_is_help=True)
app.add_typer(principal_app, name="principal")
console = Console()

NamespaceOpt = Annotated[
    str, typer.Option("--namespace", help="Topic namespace ('' is the production one)")
]


def fail(message: str) -> NoReturn:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def _admin() -> KafkaAdmin:
    """The admin client, once the broker has accepted the admin's login: librdkafka reports a
    refused login only as a timeout, two minutes later."""
    try:
        auth = admin_auth()
        asyncio.run(authenticate(auth))
        return KafkaAdmin(auth)
    except KafkaAuthenticationError as exc:
        fail(
            f"{exc}\nIf every principal has been refused since the broker restarted, its SCRAM "
            "users may be lost: docs/security.md, 'Why a revoked user is not deleted'."
        )
    except (OSError, KafkaConnectionError) as exc:
        fail(f"Kafka at {auth.bootstrap} is not reachable: {exc}")
    except ValueError as exc:
        fail(str(exc))


@app.command()
def provision(
    namespace: NamespaceOpt = "",
    partitions: Annotated[int, typer.Option(min=1, help="Partitions per topic")] = 6,
) -> None:
    """Create the topics of a namespace and apply every service principal's ACLs (idempotent).
    For the production namespace also (re)sets the service principals' SCRAM credentials from
    the local stack's credentials file, where it has them."""
    admin = _admin()
    try:
        if not namespace:
            for service in access.SERVICES:
                principal = access.service_principal(service)
                password = local_password(principal)
                if password and admin.secure:
                    admin.upsert_user(principal, password)
        created = admin.provision(namespace, partitions)
    except KafkaAdminError as exc:
        fail(str(exc))
    shown = ", ".join(created) if created else "none (all existed)"
    console.print(f"namespace {namespace or '(production)'}: topics created: {shown}; ACLs applied")


@app.command()
def deprovision(namespace: Annotated[str, typer.Option("--namespace")]) -> None:
    """Delete a test namespace's topics and its ACLs (never the production namespace)."""
    try:
        _admin().deprovision(namespace)
    except KafkaAdminError as exc:
        fail(str(exc))
    console.print(f"namespace {namespace}: topics and ACLs removed")


@principal_app.command("add")
def principal_add(
    agency_id: str,
    namespace: NamespaceOpt = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create (or reset) an agency's SCRAM-SHA-512 user and grant its ACLs: write the intake
    topic, read the fact topics, consumer groups '<agency-id>.*'; set its default quotas
    (producer_byte_rate, request_percentage). Prints the password once."""
    password = sys.stdin.readline().strip() if password_stdin else None
    try:
        admin = _admin()
        secret = admin.add_agency(agency_id, password, namespace)
        asyncio.run(set_agency_quota(admin.auth, agency_id, access.DEFAULT_AGENCY_QUOTA))
    except (KafkaAdminError, ValueError) as exc:
        fail(str(exc))
    console.print(f"Kafka principal [bold]{agency_id}[/bold] ready (SASL SCRAM-SHA-512).")
    if not password_stdin:
        console.print(f"password (shown once): [bold]{secret}[/bold]")


@principal_app.command("remove")
def principal_remove(agency_id: str, namespace: NamespaceOpt = "") -> None:
    """Revoke an agency's Kafka access: its password stops working and its ACLs go."""
    try:
        _admin().remove_agency(agency_id, namespace)
    except (KafkaAdminError, ValueError) as exc:
        fail(str(exc))
    console.print(f"Kafka principal [bold]{agency_id}[/bold] removed: user and ACLs deleted.")


@app.command()
def acls(
    principal: Annotated[
        str | None, typer.Option(help="Show this principal's ACLs as the broker has them")
    ] = None,
    output: OutputOpt = Output.text,
) -> None:
    """The ACL design (generated from the contracts), or one principal's live ACLs (--output
    json: a list of {resource, name, pattern, operation, permission})."""
    if principal is None:
        typer.echo(access.acl_table_markdown(), nl=False)
        return
    columns = ("resource", "name", "pattern", "operation", "permission")
    table = Table(*columns)
    admin = _admin()
    try:
        found = admin.acls_of(principal)
    except Exception as exc:
        fail(f"could not read the ACLs: {exc}")
    rows = sorted(
        (
            str(b.restype),
            b.name,
            str(b.resource_pattern_type),
            str(b.operation),
            str(b.permission_type),
        )
        for b in found
    )
    named = [tuple(part.rpartition(".")[2] for part in row) for row in rows]
    if output is Output.json:
        typer.echo(json.dumps([dict(zip(columns, row, strict=True)) for row in named], indent=2))
        return
    for row in named:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    app()
