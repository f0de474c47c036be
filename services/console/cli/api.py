"""The CLI's client of the console service's HTTP API: where it is, the operator's key, and what
each refusal of the API becomes (a message on stderr and the documented exit code)."""

from __future__ import annotations

import os
import urllib.parse
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError

from smartcity_th.contracts.proposals import ErrorResponse
from smartcity_th.services.common.cli_conventions import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    fail,
)

DEFAULT_URL = (
    f"http://{os.environ.get('CONSOLE_HTTP_HOST', '127.0.0.1')}:"
    f"{os.environ.get('CONSOLE_HTTP_PORT', '8004')}"
)
"""The console's own address settings (CONSOLE_HTTP_HOST/PORT), unless CONSOLE_URL or --url."""

UrlOpt = Annotated[
    str, typer.Option("--url", envvar="CONSOLE_URL", help="The console service's base URL")
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="CONSOLE_API_KEY", help="Operator API key (depa or svc-console)"
    ),
]

Pages = dict[str, dict[str, str]]
"""The neighbours of a page of a list: `older` and `newer`, each its query parameters."""


class Api:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 15.0) -> None:
        self.url = url.rstrip("/")
        api_key = api_key or os.environ.get("CONSOLE_API_KEY")  # every call needs an operator
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def page(self, path: str, **params: Any) -> tuple[Any, Pages]:
        """A page of a list and its neighbours' parameters, from the `Link` header: `older`
        (rel="next") and `newer` (rel="prev")."""
        resp = self._send("GET", path, params={k: v for k, v in params.items() if v is not None})
        rels = {"next": "older", "prev": "newer"}
        return resp.json(), {
            rels[rel]: dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link["url"]).query))
            for rel, link in resp.links.items()
            if rel in rels
        }

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            fail(
                f"[red]console service unreachable at {self.url}[/red] ({type(exc).__name__})."
                f"\nStart it with [bold]smartcity up[/bold] or set CONSOLE_URL. "
                f"(เชื่อมต่อคอนโซลไม่ได้)",
                EXIT_UNREACHABLE,
            )
        if resp.status_code in (401, 403):
            fail(f"[red]refused ({resp.status_code}):[/red] {reason(resp)}", EXIT_AUTH)
        if resp.status_code == 404:
            fail(f"[red]not found:[/red] {reason(resp)}", EXIT_FAILED)
        if resp.status_code in (400, 422):
            fail(f"[red]bad request:[/red] {reason(resp)}", EXIT_USAGE)
        if resp.status_code >= 500:
            fail(
                f"[red]console service error {resp.status_code}:[/red] {resp.text[:300]}",
                EXIT_UNREACHABLE,
            )
        if resp.status_code >= 400:  # 409: the console refused (e.g. an unsafe replay)
            fail(f"[red]refused ({resp.status_code}):[/red] {reason(resp)}", EXIT_FAILED)
        return resp


def segment(value: str) -> str:
    """An id as one URL path segment: a dead letter's id is whatever its writer put there
    (slashes, control characters), and must reach the console as the id it is."""
    return urllib.parse.quote(value, safe="")


def reason(resp: httpx.Response) -> str:
    """The reason of a refusal, from the one documented error body of every service."""
    try:
        refusal = ErrorResponse.model_validate_json(resp.content)
    except ValidationError:  # not one of ours (a proxy in between): show what came
        return resp.text[:300]
    return f"{refusal.error} / {refusal.error_th}"
