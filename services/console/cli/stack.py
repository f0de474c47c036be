"""`up`, `down`, `status` and `demo`: the local stack, through the Makefile of a source
checkout."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import typer

from smartcity_th.services.common.cli_conventions import EXIT_UNREACHABLE, EXIT_USAGE, fail

ROOT = Path(__file__).resolve().parents[3]
"""The source checkout (this file is services/console/cli/stack.py in it)."""


def _make(target: str) -> None:
    if not (ROOT / "Makefile").exists():
        fail(f"no Makefile at {ROOT}: run from a source checkout", EXIT_USAGE)
    try:
        code = subprocess.run(["make", "-C", str(ROOT), target], check=False).returncode
    except FileNotFoundError:
        fail("`make` is not installed", EXIT_USAGE)
    if code:
        fail(f"make {target} failed with exit code {code}", EXIT_UNREACHABLE)


def up() -> None:
    """Start Kafka, FerretDB, Mailpit and every service, the console included (make up)."""
    _make("up")


def down() -> None:
    """Stop the services and the servers (make down)."""
    _make("down")


def status() -> None:
    """Show which servers and services run (make status)."""
    _make("status")


def demo(reset: bool = typer.Option(False, "--reset", help="Delete the demo data first")) -> None:
    """Replay the 2022 certification round through the whole stack (make demo)."""
    if reset:
        os.environ["DEMO_ARGS"] = "--reset"
    _make("demo")
