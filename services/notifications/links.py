"""Links to a proposal's public status page: signed, unguessable and expiring.

A link carries a token made with itsdangerous (HMAC-SHA256 over the proposal id and the time
it was issued, keyed by this service's secret). Whoever has the link may read that one
proposal's status page, until it expires; nobody can make a link for another proposal without
the secret. The page shows only what the emails already say (no contact addresses, no plan)."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

SALT = "smartcity.status-page.v1"


class LinkExpired(Exception):
    """The link was genuine but is older than the allowed age."""


class LinkInvalid(Exception):
    """The link was not made by this service (or was altered)."""


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class StatusLinks:
    """Makes and checks status-page links. `secret` may be set after construction (when it is
    read from the store at start-up)."""

    base_url: str
    max_age_seconds: int
    secret: str | None = None

    def _serializer(self) -> URLSafeTimedSerializer:
        if not self.secret:
            raise RuntimeError("the status-link secret is not loaded yet")
        return URLSafeTimedSerializer(self.secret, salt=SALT)

    def token(self, proposal_id: str) -> str:
        return str(self._serializer().dumps(proposal_id))

    def url(self, proposal_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/status/{self.token(proposal_id)}"

    def open(self, token: str) -> tuple[str, dt.datetime]:
        """The proposal a token opens and when the link expires; raises LinkExpired or
        LinkInvalid."""
        try:
            value, issued = self._serializer().loads(
                token, max_age=self.max_age_seconds, return_timestamp=True
            )
        except SignatureExpired:
            raise LinkExpired("this status link has expired") from None
        except BadData:
            raise LinkInvalid("this is not a valid status link") from None
        if not isinstance(value, str):
            raise LinkInvalid("this is not a valid status link")
        return value, issued + dt.timedelta(seconds=self.max_age_seconds)
