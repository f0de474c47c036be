"""Rules written once (issue 28, item 5): the product code asks the one place instead of writing
the rule again."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = sorted(
    p
    for folder in ("services", "contracts", "smartcity_kit", "scenarios")
    for p in (ROOT / folder).rglob("*.py")
    if "build" not in p.relative_to(ROOT).parts
)


def calls(attribute: str) -> list[str]:
    """Where the product code calls `<anything>.<attribute>(...)`."""
    found = []
    for path in PRODUCT:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == attribute
            ):
                found.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
    return found


def test_every_kafka_subscriber_is_made_by_the_one_function_with_the_services_options() -> None:
    assert [c.split(":")[0] for c in calls("subscriber")] == ["services/common/kafka.py"]


def test_every_backoff_is_the_retry_rule() -> None:
    """A wait that doubles is computed by services/common/retry.py, nowhere else. A doubling
    that is not a wait (a search) says so on its line: `# a search, not a wait`."""
    doubling = re.compile(r"\*\s*2\b(?!\s*\*)|\b2\s*\*\*\s*[a-z_(]|\*=\s*2\b")
    found = [
        f"{path.relative_to(ROOT).as_posix()}:{number}: {line.strip()}"
        for path in PRODUCT
        if path.name != "retry.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if doubling.search(line) and "not a wait" not in line
    ]
    assert found == []
