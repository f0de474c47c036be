"""Digest rules, pure: when the daily digest is due and what a digest is called."""

from __future__ import annotations

import datetime as dt
import hashlib

THAILAND = dt.timezone(dt.timedelta(hours=7), "ICT")


def next_cutoff(now: dt.datetime, hour: int) -> dt.datetime:
    """The next daily digest time strictly after `now`: `hour` o'clock in Thailand, in UTC."""
    local = now.astimezone(THAILAND)
    cutoff = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if cutoff <= local:
        cutoff += dt.timedelta(days=1)
    return cutoff.astimezone(dt.UTC)


def digest_id(email: str, as_of: dt.datetime) -> str:
    """Stable per (address, cutoff): two instances collecting the same digest agree on its id
    (and so on its Message-ID). Only characters valid in a Message-ID's left part."""
    who = hashlib.sha256(email.lower().encode("utf-8")).hexdigest()[:12]
    return f"digest-{who}-{as_of.astimezone(dt.UTC):%Y%m%dT%H%M%S}Z"
