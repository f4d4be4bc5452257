"""The shared throttle: reservations from several workers keep one rate."""

from __future__ import annotations

import itertools
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
        count = rng.randint(1, 12)
        begin = throttles[worker].reserve("sms", count, clocks[worker], rate)
        starts.append((begin, count))
        clocks[worker] = max(begin, clocks[worker]) + rng.uniform(0.0, 0.05)  # waits, then sends
    in_minute = sum(count for begin, count in starts if start <= begin < start + 60)
    assert abs(in_minute - rate * 60) <= rate * 60 * 0.01 + 12
    ordered = sorted(starts)
    for (a, n), (b, _) in itertools.pairwise(ordered):
        assert b - a >= n / rate - 1e-6  # no reservation overlaps the one before


def test_after_idleness_only_a_small_burst_goes_at_once(adapters: Adapters) -> None:
    throttle = SqlThrottle(adapters.engine, burst_seconds=0.2)
    now = 1_800_000_000.0
    starts = [throttle.reserve("email", 10, now, 100.0) - now for _ in range(4)]
    # the burst allowance (0.2 s of the rate) first, then one slot after another
    assert starts == pytest.approx([-0.2, -0.1, 0.0, 0.1], abs=1e-6)
    later = now + 3600
    assert throttle.reserve("email", 1, later, 100.0) == pytest.approx(later - 0.2)
