"""`smartcity-admin`: the agency registry's admin commands.

seed                              register the CSV directory's agencies (idempotent)
onboard ID --kind K --name-th T --name-en E [--province 41] [--email-domain D]... --out DIR
                                  a new agency: registry entry, Kafka credentials, API key,
                                  signing key pair (private key written to DIR, shown once)
email-domains AGENCY [--add D]... [--remove D]...
                                  show or change where its contact addresses may be
api-key issue AGENCY... [--label L]
                                  print a new API key once (per agency)
signing-key register AGENCY --public-key FILE
                                  register a public key the agency made itself
                                  (`smartcity-kit keygen`): the admin never holds its private key
signing-key ensure AGENCY --out DIR
                                  keep a current key pair in DIR/AGENCY.pem (a service's own
                                  key: svc-approvals signs certificates); idempotent
signing-key add AGENCY --out DIR  a new signing key pair made here for an agency (weaker: the
                                  admin's machine held the private key; docs/security.md)
kafka-credentials AGENCY          create or reset an agency's Kafka user; password shown once
quota AGENCY [--producer-byte-rate N] [--request-percentage P]
                                  show or set an agency's Kafka quotas (onboarding sets defaults)
revoke KEY                        revoke an API key or a signing key, in every service (final:
                                  the same key is never accepted again)
revoke-agency AGENCY              revoke every key of an agency, remove its Kafka credentials
list                              every key with its agency and status
reset-local --yes                 the local stack's services on empty databases (demo data)

`--output json` (api-key issue, signing-key add|register, kafka-credentials, list) prints one JSON
document for programs, e.g. the demo scenario, which uses these commands as an agency's operator
would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.table import Table

from smartcity_th.contracts.access import DEFAULT_AGENCY_QUOTA, AgencyQuota
from smartcity_th.contracts.agencies import Agency, UnknownAgency
from smartcity_th.contracts.common import AGENCY_ID_RULE, AgencyKind, is_agency_id
from smartcity_th.contracts.contacts import normal_domain
from smartcity_th.contracts.topics import Topics
from smartcity_th.kit import ClaimSigner
from smartcity_th.kit.keys import BadPublicKey, read_public_key
from smartcity_th.services.admin import local
from smartcity_th.services.common.cli_conventions import EXIT_USAGE, Output, OutputOpt, fail, run
from smartcity_th.services.common.kafka import ensure_topics, require_reachable
from smartcity_th.services.common.kafka_auth import admin_auth, default_bootstrap
from smartcity_th.services.common.kafka_quotas import agency_quota, set_agency_quota
from smartcity_th.services.common.registry_admin import (
    KafkaCredentials,
    NewSigningKey,
    RegistryAdmin,
    create_agency_kafka_credentials,
    describe,
)

T = TypeVar("T")
console = Console()
app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=True)
api_key_app = typer.Typer(help="API keys for agencies' HTTP calls.", no_args_is_help=True)
signing_app = typer.Typer(help="Keys with which agencies sign their claims.", no_args_is_help=True)
app.add_typer(api_key_app, name="api-key")
app.add_typer(signing_app, name="signing-key")
JsonFlag = Annotated[
    bool, typer.Option("--json", hidden=True, help="The same as --output json (kept for scripts)")
]


class AdminSettings(BaseSettings):
    """Where the registry is (the admin's Kafka credentials join these settings)."""

    model_config = SettingsConfigDict(env_prefix="SMARTCITY_ADMIN_", extra="ignore")

    kafka_bootstrap: str = Field(default_factory=default_bootstrap)
    topic_namespace: str = Field("", description="Topic namespace (tests use one)")
    partitions: int = Field(6, ge=1, description="Partitions of topics created here")
    agency_producer_byte_rate: int = Field(
        DEFAULT_AGENCY_QUOTA.producer_byte_rate,
        gt=0,
        description="Kafka quota set at onboarding: bytes per second an agency may produce",
    )
    agency_request_percentage: float = Field(
        DEFAULT_AGENCY_QUOTA.request_percentage,
        gt=0,
        description="Kafka quota set at onboarding: percent of one broker thread's time an "
        "agency's requests may take",
    )

    def agency_quota(self) -> AgencyQuota:
        return AgencyQuota(self.agency_producer_byte_rate, self.agency_request_percentage)


def _run(job: Callable[[RegistryAdmin], Awaitable[T]]) -> T:
    # aiokafka retries a just-created topic's leader lookup with warnings; they are not news.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    settings = AdminSettings()
    topics = Topics(settings.topic_namespace)
    require_reachable(settings.kafka_bootstrap)

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


def _print_json(value: Any) -> None:
    def encode(v: object) -> str:
        if isinstance(v, dt.datetime):
            return v.isoformat()
        raise TypeError(f"not JSON: {v!r}")

    typer.echo(json.dumps(value, default=encode, ensure_ascii=False))


def _print_kafka(kafka: KafkaCredentials | None) -> None:
    if kafka is None:
        console.print("Kafka credentials: none needed (the broker is PLAINTEXT)")
    else:
        console.print(
            f"Kafka user {kafka.username} ({kafka.mechanism}), password: {kafka.password}"
        )


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
    added, given = _run(lambda admin: admin.seed())
    note = f"; {given} registered before had their email domains added" if given else ""
    console.print(f"registry seeded: {added} agencies added{note}")


def _domains(values: list[str] | None) -> list[str]:
    try:
        return [normal_domain(v) for v in values or []]
    except ValueError as exc:
        fail(f"smartcity-admin: error: {exc}", EXIT_USAGE)


@app.command("onboard")
def onboard(
    agency_id: str,
    kind: Annotated[AgencyKind, typer.Option(help="Agency kind")],
    name_th: Annotated[str, typer.Option(help="Name in Thai")],
    name_en: Annotated[str, typer.Option(help="Name in English")],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the private signing key made here (without --public-key)"),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="The agency's own public key (`smartcity-kit keygen`): no key pair is made here",
        ),
    ] = None,
    province: Annotated[str | None, typer.Option(help="Two-digit province code")] = None,
    email_domain: Annotated[
        list[str] | None,
        typer.Option(
            "--email-domain",
            help="An email domain of the agency (repeatable; covers its subdomains): its "
            "proposals' contact addresses must be there",
        ),
    ] = None,
) -> None:
    """Onboard a new agency: registry entry, Kafka credentials, API key and a signing key: the
    public key the agency made itself (--public-key, better), or a key pair made here whose
    private key is written to --out (weaker: docs/security.md). An applicant needs at least
    one --email-domain before its submissions are accepted (or `email-domains --add` later)."""
    if not is_agency_id(agency_id):
        fail(f"smartcity-admin: error: {agency_id!r} is not an agency id: {AGENCY_ID_RULE}", 2)
    if (out is None) == (public_key is None):
        fail("smartcity-admin: error: give either --public-key FILE or --out DIR", 2)
    raw = None
    if public_key is not None:
        try:
            raw = read_public_key(public_key.read_bytes())
        except (OSError, BadPublicKey) as exc:
            fail(f"smartcity-admin: error: {public_key}: {exc}", EXIT_USAGE)
    domains = tuple(dict.fromkeys(_domains(email_domain)))
    agency = Agency(agency_id, kind, name_th, name_en, province, domains)
    quota = AdminSettings().agency_quota()
    done = _run(lambda admin: admin.onboard(agency, raw, quota))
    console.print(f"onboarded {agency_id}: {name_th} / {name_en}")
    console.print(f"API key (shown once): {done.api_key}")
    console.print(f"signing key id: {done.signing_key_id}")
    if done.signing_key is not None and out is not None:
        console.print(f"private signing key: {_write_private_key(out, done.signing_key)}")
    _print_kafka(done.kafka)
    if domains:
        console.print(f"email domains: {', '.join(domains)}")
    else:
        console.print(
            "no email domain: its submissions are refused until one is registered "
            f"(smartcity-admin email-domains {agency_id} --add DOMAIN)"
        )


@app.command("email-domains")
def email_domains(
    agency_id: str,
    add: Annotated[
        list[str] | None, typer.Option("--add", help="A domain to add (repeatable)")
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="A domain to remove (repeatable)")
    ] = None,
    output: OutputOpt = Output.text,
) -> None:
    """Show an agency's email domains, or change them (a registry event every service applies
    at once). A proposal's contact addresses must be at one of its applicant's domains or a
    subdomain of one; with none, its submissions are refused (docs/security.md)."""
    adding, removing = _domains(add), _domains(remove)

    async def job(admin: RegistryAdmin) -> Agency:
        if adding or removing:
            return await admin.set_email_domains(agency_id, adding, removing)
        return admin.state.agency(agency_id)  # UnknownAgency

    try:
        agency = _run(job)
    except ValueError as exc:
        fail(f"smartcity-admin: error: {exc}", EXIT_USAGE)
    if output is Output.json:
        _print_json({"agency": agency_id, "email_domains": list(agency.email_domains)})
    else:
        console.print(f"{agency_id}: {', '.join(agency.email_domains) or 'no email domain'}")


@api_key_app.command("issue")
def issue(
    agency_ids: Annotated[list[str], typer.Argument(metavar="AGENCY...")],
    label: Annotated[str, typer.Option(help="What it is for")] = "",
    output: OutputOpt = Output.text,
    json_flag: JsonFlag = False,
) -> None:
    """Issue a new API key for each agency named; each key is shown once (one a line, or with
    --output json an object of keys by agency id). Nothing is issued if one agency is unknown."""
    as_json = output is Output.json or json_flag

    async def job(admin: RegistryAdmin) -> dict[str, str]:
        for agency_id in agency_ids:
            admin.state.agency(agency_id)  # UnknownAgency, before any key is issued
        return {a: await admin.issue_api_key(a, label) for a in agency_ids}

    keys = _run(job)
    if as_json:
        _print_json(keys)
    else:
        typer.echo("\n".join(keys.values()))


@signing_app.command("add")
def add_signing_key(
    agency_id: str,
    out: Annotated[Path, typer.Option(help="Folder for the private signing key")],
    output: OutputOpt = Output.text,
    json_flag: JsonFlag = False,
) -> None:
    """A new signing key pair made here for an agency (the private key goes to --out, nowhere
    else; --output json prints its key id and file). Weaker than `signing-key register`: the
    admin's machine held the agency's private key (docs/security.md)."""
    as_json = output is Output.json or json_flag
    key = _run(lambda admin: admin.register_signing_key(agency_id))
    pem = _write_private_key(out, key)
    if as_json:
        _print_json({"agency": agency_id, "key_id": key.key_id, "private_key": str(pem)})
    else:
        console.print(f"signing key {key.key_id}; private key: {pem}")


@signing_app.command("ensure")
def ensure_signing_key(
    agency_id: str,
    out: Annotated[Path, typer.Option(help="Folder that keeps the private key as AGENCY.pem")],
    output: OutputOpt = Output.text,
) -> None:
    """Keep a current signing key for an agency in --out (idempotent): the key in
    AGENCY.pem when the registry holds it as current, else a new key pair made here and
    registered. For the services' own keys (`svc-approvals` signs certificates), which the
    local stack keeps in .local/service-signing-keys/."""
    path = out / f"{agency_id}.pem"

    async def job(admin: RegistryAdmin) -> tuple[str, bool]:
        if path.exists():
            kept = ClaimSigner.from_pem(agency_id, path)
            entry = admin.state.signing_keys.get(kept.key_id)
            if entry is not None and entry.agency_id == agency_id and entry.revoked_at is None:
                return kept.key_id, False
        key = await admin.register_signing_key(agency_id)
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_pem())
        return key.key_id, True

    key_id, made = _run(job)
    if output is Output.json:
        _print_json({"agency": agency_id, "key_id": key_id, "private_key": str(path), "new": made})
    else:
        console.print(f"signing key {key_id} ({'new' if made else 'kept'}); private key: {path}")


@signing_app.command("register")
def register_signing_key(
    agency_id: str,
    public_key: Annotated[
        Path,
        typer.Option(
            "--public-key",
            help="The agency's public key file (`smartcity-kit keygen` writes it: *.pub.pem)",
        ),
    ],
    output: OutputOpt = Output.text,
    json_flag: JsonFlag = False,
) -> None:
    """Register a public key that the agency generated itself (`smartcity-kit keygen`); its
    private key never reaches the admin. Refused if the same key was revoked before."""
    as_json = output is Output.json or json_flag
    try:
        raw = read_public_key(public_key.read_bytes())
    except (OSError, BadPublicKey) as exc:
        fail(f"smartcity-admin: error: {public_key}: {exc}", EXIT_USAGE)
    key_id = _run(lambda admin: admin.register_public_key(agency_id, raw))
    if as_json:
        _print_json({"agency": agency_id, "key_id": key_id})
    else:
        console.print(f"signing key {key_id} registered for {agency_id}")


@app.command("kafka-credentials")
def kafka_credentials(
    agency_id: str, output: OutputOpt = Output.text, json_flag: JsonFlag = False
) -> None:
    """Create or reset a registered agency's Kafka user (a new password, shown once) and its
    ACLs. --output json prints what the integrator kit's KafkaConnection takes, and the intake
    topic."""
    as_json = output is Output.json or json_flag
    settings = AdminSettings()

    async def job(admin: RegistryAdmin) -> KafkaCredentials | None:
        admin.state.agency(agency_id)  # UnknownAgency
        return await create_agency_kafka_credentials(
            settings.kafka_bootstrap, agency_id, admin.namespace, settings.agency_quota()
        )

    kafka = _run(job)
    if not as_json:
        _print_kafka(kafka)
        return
    auth = admin_auth(settings.kafka_bootstrap)
    _print_json(
        {
            "agency": agency_id,
            "bootstrap": settings.kafka_bootstrap,
            "security_protocol": "PLAINTEXT" if kafka is None else auth.security_protocol,
            "sasl_mechanism": None if kafka is None else kafka.mechanism,
            "username": None if kafka is None else kafka.username,
            "password": None if kafka is None else kafka.password,
            "ssl_cafile": auth.ssl_cafile,
            "intake_topic": Topics(settings.topic_namespace).intake,
        }
    )


@app.command("quota")
def quota(
    agency_id: str,
    producer_byte_rate: Annotated[
        int | None, typer.Option(min=1, help="Bytes per second it may produce")
    ] = None,
    request_percentage: Annotated[
        float | None,
        typer.Option(min=0.01, help="Percent of one broker thread's time its requests may take"),
    ] = None,
    output: OutputOpt = Output.text,
) -> None:
    """Show an agency's Kafka quotas, or set them (onboarding and kafka-credentials set the
    defaults, SMARTCITY_ADMIN_AGENCY_PRODUCER_BYTE_RATE and ..._REQUEST_PERCENTAGE). The broker
    holds them a moment after they are set."""
    settings = AdminSettings()
    auth = admin_auth(settings.kafka_bootstrap)

    async def job(admin: RegistryAdmin) -> dict[str, float]:
        admin.state.agency(agency_id)  # UnknownAgency
        if producer_byte_rate is not None or request_percentage is not None:
            default = settings.agency_quota()
            await set_agency_quota(
                auth,
                agency_id,
                AgencyQuota(
                    producer_byte_rate or default.producer_byte_rate,
                    request_percentage or default.request_percentage,
                ),
            )
        return await agency_quota(auth, agency_id)

    found = _run(job)
    if output is Output.json:
        _print_json({"agency": agency_id, "quota": found})
    else:
        shown = ", ".join(f"{k}={v:g}" for k, v in sorted(found.items())) or "none yet"
        console.print(f"{agency_id}: {shown}")


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
def list_keys(
    output: OutputOpt = Output.text,
    json_flag: JsonFlag = False,
) -> None:
    """Every key with its agency and status (--output json: a list of {kind, id, agency, since,
    revoked}, revoked null while the key is live)."""
    as_json = output is Output.json or json_flag
    rows = _run(lambda admin: asyncio.sleep(0, describe(admin.state)))
    if as_json:
        _print_json(rows)
        return
    table = Table("kind", "id", "agency", "since", "revoked")
    for r in sorted(rows, key=lambda r: (r["agency"], r["kind"], str(r["since"]))):
        table.add_row(
            r["kind"], r["id"], r["agency"], str(r["since"])[:19], str(r["revoked"] or "")[:19]
        )
    console.print(table)


@app.command("reset-local")
def reset_local(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: delete the data")] = False,
) -> None:
    """Stop the local stack's services (infra/services.sh), drop their databases, delete the
    mail Mailpit caught, start them again: the demo from scratch. Kafka keeps its history (the
    services' consumer groups are past it). Refuses without --yes, and for servers not on
    loopback."""
    targets = local.targets()
    remote = local.not_on_loopback(targets)
    if remote:
        console.print(f"[red]refusing: not a local stack: {', '.join(remote)}[/red]")
        raise typer.Exit(2)
    if not yes:
        console.print(
            "reset-local deletes the databases "
            f"{', '.join(t.database for t in targets.databases)} and the mail caught at "
            f"{targets.mailpit_url}; run it again with --yes"
        )
        raise typer.Exit(2)
    local.reset(targets, console.print)


def main() -> None:
    run(app, "smartcity-admin")


if __name__ == "__main__":
    main()
