"""The shared throttle in the database: reservations from several workers keep one rate."""

from __future__ import annotations

import random

import pytest

from engine.bootstrap import Adapters
from engine.db.throttle import SqlThrottle


def test_interleaved_workers_share_one_rate_over_a_minute(adapters: Adapters) -> None:
    rate, start = 50.0, 1_800_000_000.0
    throttles = [SqlThrottle(adapters.engine) for _ in range(3)]  # three workers
    clocks = [start] * 3
    starts: list[tuple[float, int]] = []
    rng = random.Random(7)
    while min(clocks) < start + 60:
        worker = min(range(3), key=lambda i: clocks[i])
        count = rng.randint(1, 10)  # at most largest_batch(50, 0.2)
        begin = throttles[worker].reserve("sms", count, clocks[worker], rate)
        starts.append((begin, count))
        clocks[worker] = max(begin, clocks[worker]) + rng.uniform(0.0, 0.05)  # waits, then sends
    in_minute = sum(count for begin, count in starts if start <= begin < start + 60)
    assert abs(in_minute - rate * 60) <= rate * 60 * 0.01 + 10
    ordered = sorted(starts)
    for a, _ in ordered:  # no second carries more than the rate plus the burst window
        assert sum(n for b, n in ordered if a <= b < a + 1) <= rate * (1 + 0.2) + 1e-6


def test_after_idleness_only_a_small_burst_goes_at_once(adapters: Adapters) -> None:
    throttle = SqlThrottle(adapters.engine, burst_seconds=0.2)
    now = 1_800_000_000.0
    starts = [throttle.reserve("email", 10, now, 100.0) - now for _ in range(4)]
    # the burst allowance (0.2 s of the rate) at once, then one slot after another
    assert starts == pytest.approx([0.0, 0.0, 0.1, 0.2], abs=1e-6)
    later = now + 3600  # idle credit does not pile up
    assert throttle.reserve("email", 30, later, 100.0) == pytest.approx(later + 0.1)
