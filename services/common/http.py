"""Health and metrics endpoints, the same on every service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from pymongo import AsyncMongoClient

Check = Callable[[], Awaitable[None]]


class Health(BaseModel):
    """What /healthz answers: 200 when every check passed, else 503 (degraded)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "degraded"]
    checks: dict[str, str] = Field(description="Per dependency: `ok`, or `error: ...`")


def kafka_check(broker: KafkaBroker) -> Check:
    async def check() -> None:
        if not await broker.ping(timeout=2.0):
            raise ConnectionError("Kafka did not answer within 2 s")

    return check


def mongo_check(client: AsyncMongoClient[dict[str, Any]]) -> Check:
    async def check() -> None:
        await asyncio.wait_for(client.admin.command("ping"), timeout=2.0)

    return check


def ops_router(checks: dict[str, Check]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get(
        "/healthz",
        summary="Are Kafka and MongoDB reachable?",
        response_model=Health,
        responses={503: {"model": Health, "description": "A dependency is unreachable"}},
    )
    async def healthz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"error: {exc!r}"[:300]
        healthy = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", "checks": results},
            status_code=200 if healthy else 503,
        )

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
