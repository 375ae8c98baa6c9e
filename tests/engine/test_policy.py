"""Azure's three error thresholds: equal passes, one more fails."""

from __future__ import annotations

import pytest

from shardrun.engine.policy import Policy


@pytest.mark.parametrize(
    ("policy", "failed_items", "failed_batches", "all_scheduled", "breached"),
    [
        (Policy(1), 10**6, 10**6, True, False),
        (Policy(1, error_threshold=0), 0, 0, True, False),
        (Policy(1, error_threshold=0), 1, 1, True, True),
        (Policy(1, error_threshold=5), 5, 5, True, False),
        (Policy(1, error_threshold=5), 6, 1, False, True),
        (Policy(1, allowed_failed_count=2), 100, 2, True, False),
        (Policy(1, allowed_failed_count=2), 3, 3, False, True),
        (Policy(1, allowed_failed_count=-1), 3, 3, False, False),
        (Policy(1, allowed_failed_percent=20), 2, 2, True, False),
        (Policy(1, allowed_failed_percent=19.9), 2, 2, True, True),
        (Policy(1, allowed_failed_percent=19.9), 2, 2, False, False),
        (Policy(1, allowed_failed_percent=100), 10, 10, True, False),
    ],
)
def test_breach(
    policy: Policy, failed_items: int, failed_batches: int, all_scheduled: bool, breached: bool
) -> None:
    reason = policy.breach(failed_items, failed_batches, 10, all_scheduled)
    assert (reason is not None) == breached


def test_the_reason_names_the_threshold() -> None:
    assert Policy(1, error_threshold=2).breach(3, 1, 10, False) == (
        "3 failed items exceed error_threshold=2"
    )
    assert Policy(1, allowed_failed_percent=10).breach(0, 2, 10, True) == (
        "2 of 10 mini-batches failed (20.0 %), more than allowed_failed_percent=10"
    )


@pytest.mark.parametrize(
    ("error_threshold", "counted"),
    [(-1, 1), (0, 4), (10, 4)],
)
def test_returned_mini_batches_are_not_failed_when_items_are_ignored(
    error_threshold: int, counted: int
) -> None:
    """1 mini-batch used its tries up, 3 returned fewer results than inputs (Azure's 1a)."""
    policy = Policy(1, error_threshold=error_threshold, allowed_failed_count=5)
    assert policy.failed_mini_batches(exhausted=1, with_failures=4) == counted
