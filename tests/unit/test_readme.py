"""The README stays true: the two commands, and the configuration table of every service."""

from __future__ import annotations

from smartcity_th.services.common.settings_doc import README, main, settings_classes


def test_readme_names_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text
    assert "make test" in text


def test_configuration_table_lists_every_setting_of_every_service() -> None:
    assert {name for name, _ in settings_classes()} >= {"proposals", "approvals", "notifications"}
    assert main(["--check"]) == 0, "run: python -m smartcity_th.services.common.settings_doc"
