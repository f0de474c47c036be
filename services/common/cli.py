"""The command line of every service: `python -m services.<name> [serve | keys ...]`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from fastapi import FastAPI
from rich.console import Console
from rich.table import Table

from contracts.agencies import UnknownAgency
from services.common.auth import ApiKeys
from services.common.logs import configure_logging
from services.common.mongo import make_client
from services.common.runtime import Runtime, serve
from services.common.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def service_cli(
    name: str, settings_cls: Callable[[], S], build: Callable[[S], tuple[Runtime, FastAPI]]
) -> typer.Typer:
    cli = typer.Typer(help=f"The {name} service.", no_args_is_help=False, add_completion=False)
    keys = typer.Typer(help="Issue, revoke and list agency API keys (stored hashed).")
    cli.add_typer(keys, name="keys")
    console = Console()

    @cli.callback(invoke_without_command=True)
    def main(ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            run()

    @cli.command("serve")
    def run() -> None:
        """Run the service: HTTP API, Kafka consumers, outbox relay."""
        settings = settings_cls()
        configure_logging(name, settings.log_level, json=settings.log_json)
        _rt, app = build(settings)
        serve(app, settings.http_host, settings.http_port)

    def _keys() -> tuple[ApiKeys, Any]:
        settings = settings_cls()
        client = make_client(settings.mongo_url, f"{name}-admin")
        return ApiKeys(client[settings.mongo_db]), client

    @keys.command("issue")
    def issue(agency_id: str, label: str = typer.Option("", help="What the key is for")) -> None:
        """Issue a new API key for an agency; the key is shown once."""

        async def go() -> str:
            store, client = _keys()
            try:
                return await store.issue(agency_id, label)
            finally:
                await client.close()

        try:
            key = asyncio.run(go())
        except UnknownAgency as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        typer.echo(key)

    @keys.command("revoke")
    def revoke(key_or_hash: str) -> None:
        """Revoke a key (give the key itself or its hash from `keys list`)."""

        async def go() -> bool:
            store, client = _keys()
            try:
                return await store.revoke(key_or_hash)
            finally:
                await client.close()

        if not asyncio.run(go()):
            console.print("[red]no such active key[/red]")
            raise typer.Exit(1)
        console.print("revoked")

    @keys.command("list")
    def list_keys() -> None:
        """List keys (hashes only)."""

        async def go() -> list[dict[str, Any]]:
            store, client = _keys()
            try:
                return await store.list()
            finally:
                await client.close()

        table = Table("hash", "agency", "label", "issued", "revoked")
        for k in asyncio.run(go()):
            table.add_row(
                k["_id"][:16] + "…",
                k["agency_id"],
                k.get("label", ""),
                str(k["issued_at"])[:19],
                str(k.get("revoked_at") or "")[:19],
            )
        console.print(table)

    return cli
