"""`python -m scenarios` (what `make demo` runs once the stack is up)."""

from __future__ import annotations

import asyncio
import sys

from rich.console import Console

from scenarios.first_proposal import run


def main() -> int:
    console = Console()
    try:
        asyncio.run(run(console))
    except (TimeoutError, RuntimeError) as exc:
        console.print(f"[bold red]demo failed:[/] {exc}")
        console.print("Logs: .local/logs/  ·  servers: make status")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
