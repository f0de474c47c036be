"""`smartcity-admin reset-local` deletes data: it refuses without --yes, and for a stack that is
not on loopback whatever it is told."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from smartcity_th.services.admin import cli, local


def targets(*mongo_urls: str, mailpit: str = "http://127.0.0.1:8025") -> local.Targets:
    return local.Targets(
        [local.Database(f"s{i}", url, f"db{i}") for i, url in enumerate(mongo_urls)], mailpit
    )


def test_only_loopback_servers_count_as_local() -> None:
    assert local.not_on_loopback(targets("mongodb://127.0.0.1:27017", "mongodb://localhost")) == []
    assert local.not_on_loopback(
        targets(
            "mongodb://127.0.0.1:27017,db2.example.org:27017/?replicaSet=rs",
            mailpit="http://mail.example.org:8025",
        )
    ) == ["db2.example.org:27017", "http://mail.example.org:8025"]


def test_without_yes_it_names_what_it_would_delete_and_deletes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local, "reset", pytest.fail)
    result = CliRunner().invoke(cli.app, ["reset-local"])
    assert result.exit_code == 2
    assert "smartcity_proposals" in result.output
    assert "--yes" in result.output


def test_it_refuses_a_database_that_is_not_on_loopback_even_with_yes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local, "reset", pytest.fail)
    monkeypatch.setenv("APPROVALS_MONGO_URL", "mongodb://ferretdb.example.org:27017")
    result = CliRunner().invoke(cli.app, ["reset-local", "--yes"])
    assert result.exit_code == 2
    assert "refusing" in result.output
    assert "ferretdb.example.org:27017" in result.output
