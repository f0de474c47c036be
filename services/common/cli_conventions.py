"""What `smartcity` and `smartcity-admin` share (issue 25): one spelling of JSON output
(`--output json`), the exit codes, and errors as one line on stderr, never a traceback.

Exit codes: 0 ok; 1 a check failed or something was not found; 2 bad arguments; 3 a server is
unreachable; 4 authentication or permission refused.
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Callable
from typing import Annotated, NoReturn

import httpx
import typer
from aiokafka.errors import KafkaConnectionError, KafkaError
from pymongo.errors import PyMongoError
from rich.console import Console

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_AUTH = 1, 2, 3, 4

err = Console(stderr=True, highlight=False, soft_wrap=True)


class Output(enum.StrEnum):
    text = "text"
    json = "json"


OutputOpt = Annotated[
    Output,
    typer.Option("--output", "-o", help="text (tables for people) or json (for scripts)"),
]


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr, then the exit code."""
    err.print(message)
    raise typer.Exit(code)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:500]


def _exit_code(exc: BaseException) -> int:
    name = type(exc).__name__
    text = str(exc).lower()
    if "refused the credentials" in text or "authentication failed" in text:
        return (
            EXIT_AUTH  # (not "sasl": librdkafka names its sasl_plaintext:// broker in every error)
        )
    if isinstance(
        exc, KafkaConnectionError | httpx.TransportError | ConnectionError | TimeoutError
    ):
        return EXIT_UNREACHABLE
    if name == "KafkaException" or isinstance(exc, KafkaError | PyMongoError):
        # librdkafka's and PyMongo's: "Failed to get metadata", "Broker transport failure",
        # server selection timeouts.
        unreachable = ("transport", "timed out", "timeout", "failed to get metadata", "connect")
        return EXIT_UNREACHABLE if any(word in text for word in unreachable) else EXIT_FAILED
    return EXIT_FAILED


def run(app: Callable[[], object], program: str) -> None:
    """Run a Typer app: an error becomes `<program>: error: <reason>` on stderr and a
    documented exit code; SMARTCITY_CLI_TRACEBACK=1 shows the traceback instead (debugging)."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # every failure: one line and a documented code, not a traceback
        if os.environ.get("SMARTCITY_CLI_TRACEBACK") == "1":
            raise
        code = _exit_code(exc)
        print(f"{program}: error: {_one_line(exc)}", file=sys.stderr)
        if code == EXIT_UNREACHABLE:
            print(
                f"{program}: is the local stack up? `make status` shows it, `make up` starts it",
                file=sys.stderr,
            )
        sys.exit(code)
