"""`smartcity-admin`: the agency registry's admin commands.

seed                              register the CSV directory's agencies (idempotent)
onboard ID --kind K --name-th T --name-en E [--province 41] --out DIR
                                  a new agency: registry entry, Kafka credentials, API key,
                                  signing key pair (private key written to DIR, shown once)
api-key issue AGENCY [--label L]  print a new API key once
signing-key add AGENCY --out DIR  a new signing key pair for an agency
revoke KEY                        revoke an API key or a signing key, in every service
list                              every key with its agency and status
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.table import Table

from contracts.agencies import Agency, UnknownAgency
from contracts.common import AgencyKind
from contracts.topics import Topics
from services.common.kafka import ensure_topics
from services.common.registry_admin import NewSigningKey, RegistryAdmin, describe

T = TypeVar("T")
console = Console()
app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
api_key_app = typer.Typer(help="API keys for agencies' HTTP calls.", no_args_is_help=True)
signing_app = typer.Typer(help="Keys with which agencies sign their claims.", no_args_is_help=True)
app.add_typer(api_key_app, name="api-key")
app.add_typer(signing_app, name="signing-key")


def _default_bootstrap() -> str:
    return f"127.0.0.1:{os.environ.get('SMARTCITY_KAFKA_PORT', '9092')}"


class AdminSettings(BaseSettings):
    """Where the registry is (the admin's Kafka credentials join these settings)."""

    model_config = SettingsConfigDict(env_prefix="SMARTCITY_ADMIN_", extra="ignore")

    kafka_bootstrap: str = Field(default_factory=_default_bootstrap)
    topic_namespace: str = Field("", description="Topic namespace (tests use one)")
    partitions: int = Field(6, ge=1, description="Partitions of topics created here")


def _run(job: Callable[[RegistryAdmin], Awaitable[T]]) -> T:
    # aiokafka retries a just-created topic's leader lookup with warnings; they are not news.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    settings = AdminSettings()
    topics = Topics(settings.topic_namespace)

    async def go() -> T:
        await ensure_topics(settings.kafka_bootstrap, topics, settings.partitions)
        async with RegistryAdmin(settings.kafka_bootstrap, topics) as admin:
            return await job(admin)

    try:
        return asyncio.run(go())
    except UnknownAgency as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except LookupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


def _write_private_key(out: Path, key: NewSigningKey) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{key.key_id.replace(':', '_')}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_pem())
    return path


@app.command("seed")
def seed() -> None:
    """Register every agency of contracts/reference/agencies.csv not yet in the registry."""
    count = _run(lambda admin: admin.seed())
    console.print(f"registry seeded: {count} agencies added")


@app.command("onboard")
def onboard(
    agency_id: str,
    kind: Annotated[AgencyKind, typer.Option(help="Agency kind")],
    name_th: Annotated[str, typer.Option(help="Name in Thai")],
    name_en: Annotated[str, typer.Option(help="Name in English")],
    out: Annotated[Path, typer.Option(help="Folder for the private signing key")],
    province: Annotated[str | None, typer.Option(help="Two-digit province code")] = None,
) -> None:
    """Onboard a new agency: registry entry, Kafka credentials, API key, signing key pair."""
    agency = Agency(agency_id, kind, name_th, name_en, province)
    done = _run(lambda admin: admin.onboard(agency))
    pem = _write_private_key(out, done.signing_key)
    console.print(f"onboarded {agency_id}: {name_th} / {name_en}")
    console.print(f"API key (shown once): {done.api_key}")
    console.print(f"signing key id: {done.signing_key.key_id}")
    console.print(f"private signing key: {pem}")
    if done.kafka is None:
        console.print("Kafka credentials: none needed (the broker is PLAINTEXT)")
    else:
        console.print(
            f"Kafka user {done.kafka.username} ({done.kafka.mechanism}), password: "
            f"{done.kafka.password}"
        )


@api_key_app.command("issue")
def issue(agency_id: str, label: Annotated[str, typer.Option(help="What it is for")] = "") -> None:
    """Issue a new API key for an agency; the key is shown once."""
    typer.echo(_run(lambda admin: admin.issue_api_key(agency_id, label)))


@signing_app.command("add")
def add_signing_key(
    agency_id: str,
    out: Annotated[Path, typer.Option(help="Folder for the private signing key")],
) -> None:
    """A new signing key pair for an agency (the private key goes to --out, nowhere else)."""
    key = _run(lambda admin: admin.register_signing_key(agency_id))
    console.print(f"signing key {key.key_id}; private key: {_write_private_key(out, key)}")


@app.command("revoke")
def revoke(
    key: str, reason: Annotated[str | None, typer.Option(help="Why (signing keys)")] = None
) -> None:
    """Revoke an API key (the key, its hash or its id) or a signing key (its id) everywhere."""
    started = time.monotonic()
    at = _run(lambda admin: admin.revoke(key, reason))
    console.print(f"revoked at {at.isoformat()} ({time.monotonic() - started:.2f} s)")


@app.command("revoke-agency")
def revoke_agency(
    agency_id: str, reason: Annotated[str | None, typer.Option(help="Why")] = None
) -> None:
    """Revoke every key of an agency and remove its Kafka credentials."""
    ids = _run(lambda admin: admin.revoke_agency(agency_id, reason))
    console.print(f"revoked {len(ids)} keys of {agency_id}: {', '.join(ids) or 'none'}")
    console.print("Kafka credentials removed (none exist on a PLAINTEXT broker)")


@app.command("list")
def list_keys() -> None:
    """Every key with its agency and status."""
    rows = _run(lambda admin: asyncio.sleep(0, describe(admin.state)))
    table = Table("kind", "id", "agency", "since", "revoked")
    for r in sorted(rows, key=lambda r: (r["agency"], r["kind"], str(r["since"]))):
        table.add_row(
            r["kind"], r["id"], r["agency"], str(r["since"])[:19], str(r["revoked"] or "")[:19]
        )
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
