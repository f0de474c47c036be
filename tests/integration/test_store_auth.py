"""The local store's access control on the real FerretDB and PostgreSQL (issue 24, item 4): a
client that has not logged in is refused, a wrong password is refused, each service's role may
use its own database and no other's, the watchdog's role uses none, and the operators' role
reads every service's. FerretDB 1.24 hands each client's user and password to PostgreSQL
(infra/ferretdb/store-auth.patch, infra/postgres/roles.sql), so these refusals are PostgreSQL's."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from smartcity_th.contracts.access import service_principal
from smartcity_th.services.common.mongo import (
    WATCHDOG_PRINCIPAL,
    local_store_password,
    local_store_url,
    store_credentials_file,
    with_credentials,
)
from tests.support import MONGO, Namespace

pytestmark = pytest.mark.integration

Doc = dict[str, Any]
SERVICES = ("proposals", "approvals", "notifications", "console")
PORT = int(os.environ.get("SMARTCITY_FERRETDB_PORT", "27017"))


def client(url: str) -> AsyncMongoClient[Doc]:
    return AsyncMongoClient(url, serverSelectionTimeoutMS=10_000, retryWrites=False)


@pytest.fixture
async def as_service() -> AsyncIterator[dict[str, AsyncMongoClient[Doc]]]:
    clients = {s: client(local_store_url(service_principal(s))) for s in SERVICES}
    yield clients
    for c in clients.values():
        await c.close()


@pytest.fixture
async def own_databases(
    ns: Namespace, as_service: dict[str, AsyncMongoClient[Doc]]
) -> dict[str, str]:
    """Each service's database of this run, made by the service's own role, one document in."""
    for service, mongo in as_service.items():
        await mongo[ns.db(service)]["things"].replace_one(
            {"_id": "mine"}, {"service": service}, upsert=True
        )
    return {s: ns.db(s) for s in SERVICES}


async def test_each_service_uses_its_own_database_and_is_refused_every_other(
    as_service: dict[str, AsyncMongoClient[Doc]], own_databases: dict[str, str]
) -> None:
    for service, mongo in as_service.items():
        own = mongo[own_databases[service]]["things"]
        assert await own.find_one({"_id": "mine"}) == {"_id": "mine", "service": service}
        for other, database in own_databases.items():
            if other == service:
                continue
            things = mongo[database]["things"]
            with pytest.raises(OperationFailure, match="permission denied for schema"):
                await things.find_one({})
            with pytest.raises(OperationFailure, match="permission denied for schema"):
                await things.insert_one({"_id": f"from-{service}"})
            with pytest.raises(OperationFailure, match="permission denied for schema"):
                await things.delete_many({})
            with pytest.raises(OperationFailure, match="permission denied"):
                await mongo[database].drop_collection("things")
    # Nothing the refused clients tried changed anything: each database still holds its one.
    operator = client(MONGO)
    try:
        for service, database in own_databases.items():
            found = await operator[database]["things"].find({}).to_list()
            assert found == [{"_id": "mine", "service": service}]
    finally:
        await operator.close()


async def test_the_deployed_databases_belong_to_their_services(
    as_service: dict[str, AsyncMongoClient[Doc]],
) -> None:
    """The stack's own databases (the services' default MONGO_DB) exist from the start, owned
    by their services, whether a service has used its own yet or not: another service can
    neither write into one nor take its name first."""
    for service, mongo in as_service.items():
        for other in SERVICES:
            if other != service:
                with pytest.raises(OperationFailure, match="permission denied for schema"):
                    await mongo[f"smartcity_{other}"]["intruder"].insert_one({"by": service})


async def test_a_client_that_has_not_logged_in_is_refused(own_databases: dict[str, str]) -> None:
    anonymous = client(f"mongodb://127.0.0.1:{PORT}/")
    try:
        things = anonymous[own_databases["proposals"]]["things"]
        with pytest.raises(OperationFailure, match="requires authentication") as refused:
            await things.find_one({})
        assert refused.value.code == 13  # Unauthorized, as MongoDB answers
        with pytest.raises(OperationFailure, match="requires authentication"):
            await things.insert_one({"_id": "anonymous"})
        with pytest.raises(OperationFailure, match="requires authentication"):
            await anonymous.list_database_names()
        with pytest.raises(OperationFailure, match="authentication required"):
            await anonymous.admin.command("ping")  # reaches PostgreSQL: refused there too
    finally:
        await anonymous.close()


async def test_a_wrong_password_and_the_watchdog_are_refused(
    own_databases: dict[str, str],
) -> None:
    wrong = client(with_credentials(f"mongodb://127.0.0.1:{PORT}/", "svc-proposals", "wrong"))
    watchdog = client(local_store_url(WATCHDOG_PRINCIPAL))
    try:
        with pytest.raises(OperationFailure, match="password authentication failed"):
            await wrong[own_databases["proposals"]]["things"].find_one({})
        assert (await watchdog.admin.command("ping"))["ok"] == 1.0
        for database in own_databases.values():
            with pytest.raises(OperationFailure, match="permission denied for schema"):
                await watchdog[database]["things"].find_one({})
    finally:
        await wrong.close()
        await watchdog.close()


def test_the_credentials_are_the_owners_alone() -> None:
    path = store_credentials_file()
    assert local_store_password("svc-proposals")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.parent.stat().st_mode & 0o777 == 0o700  # .local/
