"""The demo scenario is an outside agency and its operator: it may import the public contracts
and the integrator kit, as integrators do, never the services or their database driver."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_packaging import imported

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
FORBIDDEN = ("smartcity_th.services", "pymongo", "motor")


def test_the_scenario_imports_neither_the_services_nor_a_database_driver() -> None:
    files = sorted(SCENARIOS.glob("*.py"))
    assert files
    found = {
        f"{path.name}: {name}"
        for path in files
        for name in imported(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert found == set()
    assert any("smartcity_th.kit" in imported(path) for path in files)
