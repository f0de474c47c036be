"""The command line of every service: `python -m smartcity_th.services.<name> [serve]`. API keys
are issued and revoked in the agency registry: `smartcity-admin api-key issue|revoke`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import typer
from fastapi import FastAPI

from smartcity_th.services.common.logs import configure_logging
from smartcity_th.services.common.runtime import Runtime, serve
from smartcity_th.services.common.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


class StartupRefused(RuntimeError):
    """The service cannot do its work on this machine (say what is missing and how to get it):
    it exits at once with that one line on stderr and code 1, never a traceback."""


def service_cli(
    name: str, settings_cls: Callable[[], S], build: Callable[[S], tuple[Runtime, FastAPI]]
) -> typer.Typer:
    cli = typer.Typer(help=f"The {name} service.", no_args_is_help=False, add_completion=False)

    @cli.callback(invoke_without_command=True)
    def main(ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            run()

    @cli.command("serve")
    def run() -> None:
        """Run the service: HTTP API, Kafka consumers, outbox relay."""
        settings = settings_cls()
        configure_logging(name, settings.log_level, json=settings.log_json)
        try:
            _rt, app = build(settings)
        except StartupRefused as exc:
            print(f"{name}: error: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None
        serve(app, settings.http_host, settings.http_port)

    return cli
