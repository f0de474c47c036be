"""Every generated file in `docs/`: writing them, and finding the stale ones."""

from __future__ import annotations

from pathlib import Path

from smartcity_th.contracts import access
from tools.docgen.asyncapi import asyncapi, services
from tools.docgen.events import events_markdown
from tools.docgen.schemas import RELEASED_DIR, current_schemas, dumps

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCHEMAS_DIR = "schemas"
ASYNCAPI_DIR = "asyncapi"
ACL_BEGIN = "<!-- acl:begin (generated from contracts/access.py by make docs) -->"
ACL_END = "<!-- acl:end -->"


def artefacts() -> dict[str, str]:
    """Every generated file, by path relative to `docs/`, with its exact content."""
    files = {
        f"{SCHEMAS_DIR}/{name}.json": dumps(schema) for name, schema in current_schemas().items()
    }
    for service in services():
        files[f"{ASYNCAPI_DIR}/{service}.json"] = dumps(asyncapi(service))
    files["events.md"] = events_markdown()
    security = DOCS / "security.md"
    if security.is_file():
        files["security.md"] = with_acl_table(security.read_text(encoding="utf-8"))
    return files


def with_acl_table(text: str) -> str:
    """docs/security.md with the ACL table between its markers regenerated."""
    before, begin, rest = text.partition(ACL_BEGIN)
    _, end, after = rest.partition(ACL_END)
    if not begin or not end:
        raise ValueError(f"docs/security.md lacks the {ACL_BEGIN} ... {ACL_END} markers")
    return f"{before}{ACL_BEGIN}\n{access.acl_table_markdown()}{ACL_END}{after}"


def stale(docs: Path = DOCS) -> list[str]:
    """Generated files that are missing, different, or left over in `docs/`."""
    expected = artefacts()
    out = [
        path
        for path, content in sorted(expected.items())
        if not (docs / path).is_file() or (docs / path).read_text(encoding="utf-8") != content
    ]
    for directory in (SCHEMAS_DIR, ASYNCAPI_DIR):
        for path in sorted((docs / directory).glob("*.json")):
            relative = f"{directory}/{path.name}"
            if relative not in expected:
                out.append(relative)
    return out


def write(docs: Path = DOCS, *, release: bool = False) -> list[str]:
    """Write every artefact (and remove generated files no longer produced)."""
    expected = artefacts()
    for directory in (SCHEMAS_DIR, ASYNCAPI_DIR):
        for path in (docs / directory).glob("*.json"):
            if f"{directory}/{path.name}" not in expected:
                path.unlink()
    written = []
    for relative, content in sorted(expected.items()):
        path = docs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            written.append(relative)
    if release:
        released = docs / RELEASED_DIR
        released.mkdir(parents=True, exist_ok=True)
        for name, schema in current_schemas().items():
            (released / f"{name}.json").write_text(dumps(schema), encoding="utf-8")
    return written
