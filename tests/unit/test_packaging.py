"""Three distributions under one namespace (issue 25): the wire contracts (contracts/), the
integrator kit (smartcity_kit/) and the backbone (pyproject.toml). Every package is imported as
`smartcity_th.*`; the folders keep their short names."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OLD_TOP_LEVEL = {"contracts", "services", "scenarios", "smartcity_kit"}


def python_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / f for f in listed]


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_nothing_imports_the_old_generic_top_level_names() -> None:
    found = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in python_files()
        for name in imported(path)
        if name.split(".")[0] in OLD_TOP_LEVEL
    }
    assert found == set()


def test_the_backbone_lists_every_package_folder_once() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(config["setuptools"]["packages"])
    mapped = config["setuptools"]["package-dir"]
    on_disk = {
        ".".join([package, *init.parent.relative_to(ROOT / folder).parts])
        for package, folder in mapped.items()
        for init in (ROOT / folder).rglob("__init__.py")
    }
    data_folders = {
        f"{package}.{pattern.split('/')[0]}"
        for package, patterns in config["setuptools"]["package-data"].items()
        for pattern in patterns
        if "/" in pattern
    }
    assert listed == on_disk | data_folders


def third_party(folder: str) -> set[str]:
    tops = {
        name.split(".")[0]
        for path in (ROOT / folder).rglob("*.py")
        for name in imported(path)
        if not name.startswith("smartcity_th.")
    }
    return {t for t in tops if t not in sys.stdlib_module_names and t != "__future__"}


def declared(folder: str) -> set[str]:
    project = tomllib.loads((ROOT / folder / "pyproject.toml").read_text(encoding="utf-8"))
    return {
        dep.split(">")[0].split("=")[0].split("<")[0].strip().replace("-", "_")
        for dep in project["project"]["dependencies"]
    }


def test_the_contracts_use_only_what_their_distribution_declares() -> None:
    assert third_party("contracts") == {"pydantic", "cryptography"}
    assert declared("contracts") == {"pydantic", "cryptography"}
    assert all(
        name.startswith("smartcity_th.contracts")
        for path in (ROOT / "contracts").rglob("*.py")
        for name in imported(path)
        if name.startswith("smartcity_th")
    )


def test_the_kit_uses_only_the_contracts_and_what_its_distribution_declares() -> None:
    assert third_party("smartcity_kit") <= {"aiokafka", "cryptography"}
    assert declared("smartcity_kit") == {"smartcity_th_contracts", "aiokafka", "cryptography"}
    ours = {
        name.split(".")[1]
        for path in (ROOT / "smartcity_kit").rglob("*.py")
        for name in imported(path)
        if name.startswith("smartcity_th.")
    }
    assert ours <= {"contracts", "kit"}
