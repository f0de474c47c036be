"""Fixtures shared by the integration and end-to-end tiers. Unit tests use none of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import DEFAULT_PARTITIONS, Topics
from smartcity_th.services.common.kafka import ensure_topics
from tests.support import (
    KAFKA,
    MONGO,
    Mailpit,
    Namespace,
    ServiceProcess,
    ensure_stack,
    remove_namespace,
    seed_registry,
    service_process,
)

SERVICES = ("proposals", "approvals", "notifications")


@pytest.fixture(scope="session")
def stack() -> None:
    ensure_stack()


TEST_API_KEYS: dict[str, str] = {}


@pytest.fixture(scope="session")
def ns(stack: None) -> Iterator[Namespace]:
    namespace = Namespace()
    topics = Topics(namespace.topics_prefix)
    asyncio.run(ensure_topics(KAFKA, topics, DEFAULT_PARTITIONS))
    TEST_API_KEYS.update(asyncio.run(seed_registry(topics)))
    yield namespace

    async def drop() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO)
        await remove_namespace(namespace, client)
        await client.close()

    asyncio.run(drop())


@pytest.fixture(scope="session")
def topics(ns: Namespace) -> Topics:
    return Topics(ns.topics_prefix)


@pytest.fixture(scope="session")
def services(ns: Namespace) -> Iterator[dict[str, ServiceProcess]]:
    """The three services as real processes on the real stack, started once per test run."""
    procs = {name: service_process(name, ns) for name in SERVICES}
    for proc in procs.values():
        proc.start()
    try:
        for proc in procs.values():
            proc.wait_healthy()
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


@pytest.fixture(scope="session")
async def mongo() -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture(scope="session")
async def mailpit(stack: None) -> AsyncIterator[Mailpit]:
    client = Mailpit()
    yield client
    await client.close()


@pytest.fixture(scope="session")
async def api_keys(services: dict[str, ServiceProcess]) -> dict[tuple[str, str], str]:
    """The test agencies' API keys, issued in the registry before the services started (one
    key per agency works at every service; keyed by (service, agency) as callers use them)."""
    return {(s, a): key for s in (*SERVICES, "console") for a, key in TEST_API_KEYS.items()}


@pytest.fixture(scope="session")
def console(ns: Namespace) -> Iterator[ServiceProcess]:
    """The console service as a real process (separate from `services`, started on demand)."""
    with service_process("console", ns).running() as proc:
        proc.api_key = TEST_API_KEYS["depa"]
        yield proc


@pytest.fixture(scope="session")
def console_key(console: ServiceProcess) -> str:
    """A depa operator key (issued in the registry, as `smartcity-admin api-key issue depa`
    does): every page and API needs one."""
    return console.api_key
