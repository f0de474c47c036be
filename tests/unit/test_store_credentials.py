"""The store's credentials helpers (services/common/mongo.py): each client logs in as its own
principal, a configured user wins, the local stack's passwords fill in the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartcity_th.services.common.mongo import (
    has_credentials,
    local_store_password,
    local_store_url,
    redacted,
    with_credentials,
    with_local_credentials,
)
from smartcity_th.services.proposals.config import ProposalsSettings


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "credentials"
    path.write_text("admin a1\nsvc-proposals p2\n", encoding="utf-8")
    monkeypatch.setenv("SMARTCITY_STORE_CREDENTIALS_FILE", str(path))
    monkeypatch.setenv("SMARTCITY_FERRETDB_PORT", "27217")
    return path


def test_a_url_gets_the_user_the_password_and_plain() -> None:
    url = with_credentials("mongodb://127.0.0.1:27017", "svc-proposals", "p@ss:/word")
    assert url == ("mongodb://svc-proposals:p%40ss%3A%2Fword@127.0.0.1:27017/?authMechanism=PLAIN")
    kept = with_credentials("mongodb://old:x@a:1,b:2/db?replicaSet=rs&authMechanism=X", "u", "p")
    assert kept == "mongodb://u:p@a:1,b:2/db?replicaSet=rs&authMechanism=PLAIN"
    scram = with_credentials("mongodb://mongo:27017/", "svc-console", "pw", mechanism="")
    assert scram == "mongodb://svc-console:pw@mongo:27017/"


def test_the_local_password_fills_in_only_a_url_without_a_user(credentials: Path) -> None:
    assert local_store_password("svc-proposals") == "p2"
    assert local_store_password("nobody") == ""
    filled = with_local_credentials("mongodb://127.0.0.1:27217", "svc-proposals")
    assert filled.startswith("mongodb://svc-proposals:p2@127.0.0.1:27217/")
    mine = "mongodb://someone:else@db.example.org:27017/"
    assert with_local_credentials(mine, "svc-proposals") == mine
    assert with_local_credentials("mongodb://h:1/", "nobody") == "mongodb://h:1/"
    assert local_store_url() == "mongodb://admin:a1@127.0.0.1:27217/?authMechanism=PLAIN"


def test_a_service_logs_in_as_itself(credentials: Path) -> None:
    settings = ProposalsSettings(mongo_url="mongodb://127.0.0.1:27217")
    assert settings.store_url("proposals").startswith("mongodb://svc-proposals:p2@")
    configured = ProposalsSettings(mongo_url="mongodb://svc-proposals:given@h:1/")
    assert configured.store_url("proposals") == "mongodb://svc-proposals:given@h:1/"


def test_a_password_is_never_shown() -> None:
    assert has_credentials("mongodb://u:p@h/")
    assert not has_credentials("mongodb://h/")
    assert redacted("mongodb://u:secret@h:1/?x=1") == "mongodb://u:***@h:1/?x=1"
    assert redacted("mongodb://h:1/") == "mongodb://h:1/"
