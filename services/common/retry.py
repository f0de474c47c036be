"""Retry rules, pure: how long to wait before the next attempt, and what follows a failure.

One rule for every retry in the system (the consumers' failure policy, the dead-letter
publisher, the email sender, a service waiting for its servers at start, the claim gate and the
outbox relay waiting out an outage, a writer that lost a race): exponential, capped, with jitter
between half and all of it. `Backoff` keeps the count of one retry loop.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

Jitter = Callable[[float, float], float]

# An outage is retried for as long as it lasts; its delay stops growing at this step.
OUTAGE_STEP_CAP = 7


def backoff_seconds(
    attempts: int, base: float, ceiling: float, rand: Jitter = random.uniform
) -> float:
    """Delay before the next attempt after `attempts` failures: exponential, capped, with
    jitter between half and all of it (so a crowd of retries spreads out)."""
    top = min(ceiling, base * 2 ** max(0, attempts - 1))
    return rand(top / 2, top)


@dataclass(frozen=True)
class Failures:
    """One record's failures so far: outages (retried for as long as they last) and other
    errors (retried up to a limit)."""

    transient: int = 0
    processing: int = 0


@dataclass(frozen=True)
class AfterFailure:
    failures: Failures
    give_up: bool
    step: int
    """The `attempts` to give `backoff_seconds` for the wait before the next try."""


def after_failure(failures: Failures, *, transient: bool, max_attempts: int) -> AfterFailure:
    """What follows one more failure: an outage is retried for ever (the delay capped at
    OUTAGE_STEP_CAP steps); any other error is retried until `max_attempts` of them, then
    the record is given up on."""
    if transient:
        seen = Failures(failures.transient + 1, failures.processing)
        return AfterFailure(seen, give_up=False, step=min(seen.transient, OUTAGE_STEP_CAP))
    seen = Failures(failures.transient, failures.processing + 1)
    return AfterFailure(seen, give_up=seen.processing >= max_attempts, step=seen.processing)


class Backoff:
    """The waits of one retry loop, by the one rule (`backoff_seconds`): each failure in a row
    waits longer, up to `ceiling`; a success starts again from `base`."""

    def __init__(self, base: float, ceiling: float, rand: Jitter = random.uniform) -> None:
        self.base = base
        self.ceiling = ceiling
        self._rand = rand
        self.failures = 0

    def after_failure(self) -> float:
        """The wait before the next attempt, after one more failure."""
        self.failures += 1
        return backoff_seconds(self.failures, self.base, self.ceiling, self._rand)

    def succeeded(self) -> None:
        self.failures = 0
