"""The `smartcity` CLI without a server (services/console/cli/): its command tree, the hint that
names the commands showing the neighbouring pages, and the exit codes of what it refuses before
or instead of an answer. What it prints from the console's answers is tested against the running
stack (`tests/e2e/test_cli_console.py`)."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from smartcity_th.services.common.cli_conventions import EXIT_AUTH, EXIT_UNREACHABLE, EXIT_USAGE
from smartcity_th.services.console.cli import app
from smartcity_th.services.console.cli.pages import show_more

URL = ("--url",)
OUTPUT = ("--output", "-o")
PAGED = (("--limit", "-n"), ("--before",), ("--after",))


def tree(command: Any, path: str = "") -> dict[str, list[tuple[str, ...]]]:
    """Every command by its path, with the flags of its options (an argument: its name). (Typer
    carries its own copy of Click's classes, so a group is what has `commands`.)"""
    if hasattr(command, "commands"):
        out: dict[str, list[tuple[str, ...]]] = {}
        for name, sub in command.commands.items():
            out |= tree(sub, f"{path} {name}".strip())
        return out
    return {
        path: [
            tuple(p.opts) if p.param_type_name == "option" else (str(p.name),)
            for p in command.params
        ]
    }


def test_the_command_tree_is_the_documented_one() -> None:
    commands = tree(typer.main.get_command(app))
    assert list(commands)[:10] == [
        "timeline",
        "registry",
        "deliveries",
        "pipeline",
        "lag",
        "trace",
        "up",
        "down",
        "status",
        "demo",
    ]
    mine = {path: flags for path, flags in commands.items() if not path.startswith("kafka ")}
    assert mine == {
        "timeline": [("proposal_id",), URL, OUTPUT],
        "registry": [URL, ("--province",), OUTPUT],
        "deliveries": [URL, ("--proposal",), *PAGED, OUTPUT],
        "pipeline": [URL, OUTPUT, ("--stage",), ("--page",)],
        "lag": [URL, OUTPUT],
        "trace": [("proposal_id",), URL, ("--all",), OUTPUT],
        "up": [],
        "down": [],
        "status": [],
        "demo": [("--reset",)],
        "events tail": [
            URL,
            ("--follow", "-f"),
            ("--proposal",),
            ("--type",),
            ("--producer",),
            ("--since",),
            ("-n", "--lines"),
            ("--before",),
            ("--interval",),
            ("--max-seconds",),
            OUTPUT,
        ],
        "deadletters list": [URL, ("--error",), *PAGED, OUTPUT],
        "deadletters show": [("dead_letter_id",), URL, OUTPUT],
        "deadletters replay": [
            ("dead_letter_id",),
            URL,
            ("--api-key",),
            ("--all",),
            ("--error",),
            ("--operator",),
        ],
        "audit verify": [URL, ("--page",), ("--signatures",), OUTPUT],
    }
    assert any(path.startswith("kafka ") for path in commands)


def test_a_list_names_the_commands_that_show_its_neighbouring_pages(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pages = {
        "older": {"before_seq": "81234", "limit": "50"},
        "newer": {"after_seq": "81300", "limit": "50"},
    }
    show_more(pages, "smartcity deliveries", "--limit 50", {"proposal": "SC 1", "error": None})
    show_more(pages, "smartcity events tail", "-n 20", {"type": "ProposalScreened"}, newer=False)
    show_more({}, "smartcity deadletters list", "--limit 50", {})
    assert capsys.readouterr().out.splitlines() == [
        "older / เก่ากว่า: smartcity deliveries --before 81234 --limit 50 --proposal 'SC 1'",
        "newer / ใหม่กว่า: smartcity deliveries --after 81300 --limit 50 --proposal 'SC 1'",
        "older / เก่ากว่า: smartcity events tail --before 81234 -n 20 --type ProposalScreened",
    ]


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["deadletters", "replay", "dl-1"], EXIT_AUTH, "an operator API key is required"),
        (["deadletters", "replay", "--api-key", "k"], EXIT_USAGE, "give a dead-letter id"),
        (["deadletters", "replay", "--all", "--api-key", "k"], EXIT_USAGE, "--all needs --error"),
        (["events", "tail", "--follow", "--before", "3"], EXIT_USAGE, "does not combine"),
        (["timeline", "SC-1"], EXIT_UNREACHABLE, "console service unreachable at"),
        (["deadletters", "list", "--limit", "0"], EXIT_USAGE, ""),
    ],
    ids=[
        "no key",
        "nothing named",
        "all without error",
        "follow an old page",
        "no console",
        "limit 0",
    ],
)
def test_what_the_cli_refuses_has_its_documented_exit_code(
    args: list[str], code: int, said: str
) -> None:
    # Port 1 on loopback: nothing listens there, so a request is refused at once.
    env = {"CONSOLE_URL": "http://127.0.0.1:1", "CONSOLE_API_KEY": ""}
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == code
    assert said in result.output
