"""The one retry rule (services/common/retry.py): the backoff, and what follows a failure."""

from __future__ import annotations

import random

from smartcity_th.services.common.retry import (
    OUTAGE_STEP_CAP,
    Backoff,
    Failures,
    after_failure,
    backoff_seconds,
)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    top = [backoff_seconds(n, 1.0, 60.0, lambda lo, hi: hi) for n in range(1, 9)]
    assert top == [1, 2, 4, 8, 16, 32, 60, 60]
    low = [backoff_seconds(n, 1.0, 60.0, lambda lo, hi: lo) for n in range(1, 4)]
    assert low == [0.5, 1, 2]


def test_backoff_jitter_stays_between_half_and_all_of_the_step() -> None:
    rng = random.Random(17)
    for attempts in range(0, 12):
        top = min(10.0, 0.2 * 2 ** max(0, attempts - 1))
        delay = backoff_seconds(attempts, 0.2, 10.0, rng.uniform)
        assert top / 2 <= delay <= top


def test_an_outage_is_retried_for_ever_with_its_step_capped() -> None:
    failures = Failures()
    steps = []
    for _ in range(20):
        next_ = after_failure(failures, transient=True, max_attempts=2)
        assert not next_.give_up
        failures = next_.failures
        steps.append(next_.step)
    assert failures == Failures(transient=20, processing=0)
    assert steps[:OUTAGE_STEP_CAP] == list(range(1, OUTAGE_STEP_CAP + 1))
    assert set(steps[OUTAGE_STEP_CAP:]) == {OUTAGE_STEP_CAP}


def test_other_errors_are_given_up_on_after_max_attempts_and_outages_do_not_count() -> None:
    first = after_failure(Failures(), transient=False, max_attempts=3)
    assert (first.give_up, first.step) == (False, 1)
    outage = after_failure(first.failures, transient=True, max_attempts=3)
    assert outage.failures == Failures(transient=1, processing=1)
    second = after_failure(outage.failures, transient=False, max_attempts=3)
    assert (second.give_up, second.step) == (False, 2)
    third = after_failure(second.failures, transient=False, max_attempts=3)
    assert third.give_up
    assert third.failures.processing == 3


def test_one_attempt_means_no_retry_of_an_error_but_still_of_an_outage() -> None:
    assert after_failure(Failures(), transient=False, max_attempts=1).give_up
    assert not after_failure(Failures(), transient=True, max_attempts=1).give_up


def test_a_retry_loop_waits_longer_after_each_failure_and_starts_again_after_a_success() -> None:
    backoff = Backoff(0.5, 5.0, lambda lo, hi: hi)
    assert [backoff.after_failure() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.succeeded()
    assert backoff.after_failure() == 0.5
    assert Backoff(0.5, 5.0, lambda lo, hi: lo).after_failure() == 0.25
