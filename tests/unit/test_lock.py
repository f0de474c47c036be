"""The pinned dependencies (requirements/*.txt, written by `make lock`) stay in step with what the
three pyproject.toml files declare: every declared dependency pinned within its range, every pin
with its hashes, the image's pins the development pins without the test and lint tools."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DEV_LOCK = ROOT / "requirements" / "dev.txt"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
PIP_LOCK = ROOT / "requirements" / "pip.txt"
LOCAL = {"smartcity-th", "smartcity-th-contracts", "smartcity-th-kit"}
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass
class Pin:
    requirement: Requirement
    hashes: list[str]
    via: list[str] = field(default_factory=list)

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)

    @property
    def version(self) -> str:
        return next(iter(self.requirement.specifier)).version


def pins(path: Path) -> list[Pin]:
    """The entries of a lock in uv's requirements format: `name==version ; marker \\` and
    `--hash=...` continuation lines, then `# via` annotations."""
    found: list[Pin] = []
    statement = ""
    annotating = False
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if statement:
            statement += " " + stripped.rstrip("\\")
            if not stripped.endswith("\\"):
                found.append(_pin(statement))
                statement = ""
            continue
        if stripped.startswith("# via"):
            annotating = True
            rest = stripped.removeprefix("# via").strip()
            if rest:
                found[-1].via.append(rest)
            continue
        if annotating and stripped.startswith("#   "):
            found[-1].via.append(stripped.removeprefix("#").strip())
            continue
        annotating = False
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            statement = stripped.rstrip("\\")
        else:
            found.append(_pin(stripped))
    return found


def _pin(statement: str) -> Pin:
    text = statement.split(" --hash=", 1)[0].strip()
    return Pin(Requirement(text), HASH.findall(statement))


def declared(extra: str | None = None) -> list[Requirement]:
    """What the three pyproject.toml files declare (the backbone's `extra` too, if given),
    without the distributions built from this repository."""
    out: list[Requirement] = []
    for path in ("pyproject.toml", "contracts/pyproject.toml", "smartcity_kit/pyproject.toml"):
        project = tomllib.loads((ROOT / path).read_text(encoding="utf-8"))["project"]
        texts = list(project.get("dependencies", []))
        if extra and path == "pyproject.toml":
            texts += project["optional-dependencies"][extra]
        out += [r for r in map(Requirement, texts) if canonicalize_name(r.name) not in LOCAL]
    return out


def by_name(lock: list[Pin]) -> dict[str, list[Pin]]:
    out: dict[str, list[Pin]] = {}
    for pin in lock:
        out.setdefault(pin.name, []).append(pin)
    return out


@pytest.mark.parametrize(
    ("lock", "extra"), [(DEV_LOCK, "dev"), (RUNTIME_LOCK, None)], ids=["dev", "runtime"]
)
def test_every_declared_dependency_is_pinned_within_its_range(
    lock: Path, extra: str | None
) -> None:
    pinned = by_name(pins(lock))
    missing = sorted({canonicalize_name(r.name) for r in declared(extra)} - set(pinned))
    assert not missing, f"{lock.name} lacks {missing}: run make lock"
    outside = [
        f"{r.name}{r.specifier} but {p.version}"
        for r in declared(extra)
        for p in pinned[canonicalize_name(r.name)]
        if not r.specifier.contains(p.version, prereleases=True)
    ]
    assert not outside, f"{lock.name} pins outside the declared ranges: {outside}; run make lock"


@pytest.mark.parametrize("lock", [DEV_LOCK, RUNTIME_LOCK, PIP_LOCK], ids=["dev", "runtime", "pip"])
def test_every_pin_is_exact_with_its_hashes(lock: Path) -> None:
    entries = pins(lock)
    assert len(entries) > (0 if lock == PIP_LOCK else 20)
    for pin in entries:
        assert [s.operator for s in pin.requirement.specifier] == ["=="], pin.requirement
        assert pin.hashes, f"{pin.requirement} has no --hash in {lock.name}"
    assert not LOCAL & {p.name for p in entries}, "local distributions are installed --no-deps"


def test_the_image_pins_are_the_development_pins_without_the_test_tools() -> None:
    dev: dict[tuple[str, str], Pin] = {
        (p.name, str(p.requirement.marker)): p for p in pins(DEV_LOCK)
    }
    runtime = pins(RUNTIME_LOCK)
    [installer] = pins(PIP_LOCK)  # make setup upgrades pip first, to the version pinned here
    assert installer.name == "pip"
    assert installer.version == dev[("pip", "None")].version
    for pin in runtime:
        twin = dev.get((pin.name, str(pin.requirement.marker)))
        assert twin is not None, f"{pin.requirement} is in the image only"
        assert pin.version == twin.version, f"{pin.name}: {pin.version} vs {twin.version}"
        assert set(pin.hashes) == set(twin.hashes), pin.name
    runtime_names = {canonicalize_name(r.name) for r in declared()}
    test_only = {canonicalize_name(r.name) for r in declared("dev")} - runtime_names
    in_image = {p.name: p for p in runtime if p.name in test_only}
    # A tool may still be in the image as what a runtime dependency needs (e.g. packaging).
    for name, pin in in_image.items():
        assert pin.via, name
        assert all("requirements/runtime.in" not in v for v in pin.via), name
    for tool in ("aiosmtpd", "pytest", "schemathesis", "playwright", "mypy", "ruff", "uv"):
        assert tool not in {p.name for p in runtime}, f"{tool} is a test or lint tool"


def test_make_and_the_image_install_from_the_locks_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "LOCK := requirements/dev.txt" in makefile
    assert "pip install -q --require-hashes -r requirements/pip.txt" in makefile
    assert "pip install --require-hashes -r $(LOCK)" in makefile
    assert "--no-deps --no-build-isolation $(DISTRIBUTIONS)" in makefile
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install --require-hashes -r requirements/runtime.txt" in dockerfile
    assert "pip install --no-deps --no-build-isolation" in dockerfile
