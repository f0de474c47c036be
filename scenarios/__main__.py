"""`python -m smartcity_th.scenarios [--reset]` (what `make demo` runs once the stack is up)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from rich.console import Console

from smartcity_th.scenarios.round_2565 import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smartcity_th.scenarios", description="Replay the 2022 certification round."
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="delete the demo data (databases, caught mail) and play it again",
    )
    args = parser.parse_args(argv)
    console = Console()
    try:
        asyncio.run(run(console, reset=args.reset))
    except (TimeoutError, RuntimeError) as exc:
        console.print(f"[bold red]demo failed:[/] {exc}")
        console.print("Logs: .local/logs/  ·  servers and services: make status")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
