"""`python -m smartcity_th.services.notifications [serve | keys | recipients | preview TYPE]`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from smartcity_th.contracts.common import service_principal
from smartcity_th.contracts.story import AREA, PHUKET
from smartcity_th.services.common.cli import service_cli
from smartcity_th.services.common.mongo import make_client
from smartcity_th.services.notifications import domain
from smartcity_th.services.notifications.adapters.directory import (
    RecipientChange,
    RecipientIn,
    RecipientsDirectory,
)
from smartcity_th.services.notifications.bootstrap import NAME, build, mail_settings
from smartcity_th.services.notifications.config import NotificationsSettings
from smartcity_th.services.notifications.domain import Recipient
from smartcity_th.services.notifications.letters import LETTERS, rule
from smartcity_th.services.notifications.links import new_secret
from smartcity_th.services.notifications.samples import sample_envelope

T = TypeVar("T")
CLI_AGENCY = service_principal("notifications")

console = Console()
cli = service_cli(NAME, NotificationsSettings, build)
recipients = typer.Typer(help="List and change the recipients directory (who gets which email).")
cli.add_typer(recipients, name="recipients")


def _with_directory(work: Callable[[RecipientsDirectory], Awaitable[T]]) -> T:
    async def go() -> T:
        settings = NotificationsSettings()
        client = make_client(settings.store_url(NAME), f"{NAME}-admin")
        try:
            directory = RecipientsDirectory(client[settings.mongo_db])
            await directory.seed()
            return await work(directory)
        finally:
            await client.close()

    return asyncio.run(go())


def _table(docs: list[dict[str, Any]]) -> Table:
    table = Table("id", "email", "name (th)", "name (en)", "digest")
    for d in docs:
        table.add_row(
            d["_id"], d["email"], d["name_th"], d["name_en"], "yes" if d.get("digest") else "no"
        )
    return table


def _invalid(exc: ValidationError) -> typer.Exit:
    for err in exc.errors():
        console.print(f"[red]{'.'.join(str(p) for p in err['loc'])}: {err['msg']}[/red]")
    return typer.Exit(2)


@recipients.command("list")
def list_recipients(prefix: str = typer.Option("", help="Only ids starting with this")) -> None:
    """List the directory."""
    console.print(_table(_with_directory(lambda d: d.list(prefix or None))))


@recipients.command("show")
def show(recipient_id: str) -> None:
    """Show one entry."""
    doc = _with_directory(lambda d: d.find(recipient_id))
    if doc is None:
        console.print(f"[red]no recipient {recipient_id!r}[/red]")
        raise typer.Exit(1)
    console.print(_table([doc]))


@recipients.command("add")
def add(
    recipient_id: str,
    email: str,
    name_th: str = typer.Option(..., help="Display name in Thai"),
    name_en: str = typer.Option(..., help="Display name in English"),
    digest: bool = typer.Option(False, help="Daily digest instead of one email per event"),
) -> None:
    """Add an entry."""
    try:
        entry = RecipientIn(
            recipient_id=recipient_id, email=email, name_th=name_th, name_en=name_en, digest=digest
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    if _with_directory(lambda d: d.create(entry, CLI_AGENCY)) is None:
        console.print(f"[red]{recipient_id!r} exists; use `recipients set`[/red]")
        raise typer.Exit(1)
    console.print(f"added {recipient_id}")


@recipients.command("set")
def set_fields(
    recipient_id: str,
    email: str | None = typer.Option(None, help="New address"),
    name_th: str | None = typer.Option(None, help="New Thai name"),
    name_en: str | None = typer.Option(None, help="New English name"),
) -> None:
    """Change an entry's address or names."""
    try:
        change = RecipientChange(email=email, name_th=name_th, name_en=name_en)
    except ValidationError as exc:
        raise _invalid(exc) from None
    doc = _with_directory(lambda d: d.update(recipient_id, change, CLI_AGENCY))
    if doc is None:
        console.print(f"[red]no recipient {recipient_id!r}[/red]")
        raise typer.Exit(1)
    console.print(_table([doc]))


@recipients.command("digest")
def digest(
    recipient_id: str, on: bool = typer.Option(..., "--on/--off", help="Daily digest on or off")
) -> None:
    """Choose a daily digest (--on) or one email per event (--off)."""
    doc = _with_directory(lambda d: d.update(recipient_id, RecipientChange(digest=on), CLI_AGENCY))
    if doc is None:
        console.print(f"[red]no recipient {recipient_id!r}[/red]")
        raise typer.Exit(1)
    console.print(_table([doc]))


@cli.command("preview")
def preview(
    event_type: str = typer.Argument(..., help="An event type of the letter table"),
    html: bool = typer.Option(False, "--html", help="Print the HTML part instead of the text"),
) -> None:
    """Render the email about a sample event (for template authors; no I/O)."""
    if rule(event_type) is None:
        console.print(f"[red]not a told event type: {event_type}[/red] ({', '.join(LETTERS)})")
        raise typer.Exit(2)
    envelope = sample_envelope(event_type)
    settings = NotificationsSettings()
    recipient = Recipient(
        "lg-phuket-city",
        "smartcity@phuketcity.example.go.th",
        "เทศบาลนครภูเก็ต",
        "Phuket City Municipality",
    )
    governor = Recipient(
        "governor-83", "governor@phuket.example.go.th", "ผู้ว่าราชการจังหวัดภูเก็ต", "Governor of Phuket"
    )
    proposal = {
        "area_name": AREA.model_dump(),
        "province": PHUKET.model_dump(),
        "stage": "screened",
        "applicant": recipient.recipient_id,
    }
    mail = mail_settings(settings)
    # Signed with a throwaway key: the link has the real form but opens nothing.
    mail.links.secret = new_secret()
    letter = domain.address_letter(event_type, recipient, [governor], [])
    out, _head, _context = domain.render_letter(
        envelope,
        proposal,
        letter,
        mail,
        number=1,
        issued_on=domain.issue_date(envelope, domain.utc_now()),
    )
    typer.echo(f"Subject: {out.subject}\n")
    typer.echo(out.html if html else out.text)


if __name__ == "__main__":
    cli()
