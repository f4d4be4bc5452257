"""GCRA reservations: many workers share one rate, bursts after idleness stay bounded."""

from __future__ import annotations

import heapq
import random
import sqlite3
from bisect import bisect_left
from datetime import UTC, datetime, timedelta

import pytest

from engine.core.sending.throttle import (
    largest_batch,
    reserve,
    reserve_seconds,
    start_after,
    start_after_seconds,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def simulate(
    rate: float, burst: float, workers: int, until: float, seed: int
) -> list[tuple[float, int]]:
    """(start second, count) of every batch that `workers` workers send until `until`.

    Each worker reserves a random batch, sleeps until its start, sends, spends
    a random few milliseconds, and reserves again; the shared next_at is
    updated in request order, as one UPDATE per reservation does.
    """
    rng = random.Random(seed)
    biggest = largest_batch(rate, burst)
    clocks = [(rng.uniform(0, 0.05), w) for w in range(workers)]
    heapq.heapify(clocks)
    next_at: datetime | None = None
    sent = []
    while clocks:
        clock, worker = heapq.heappop(clocks)
        if clock >= until:
            continue
        count = rng.randint(1, biggest)
        now = T0 + seconds(clock)
        start, next_at = reserve(next_at, now, count, rate, burst)
        assert start >= now  # never before the request
        began = (start - T0).total_seconds()
        sent.append((began, count))
        heapq.heappush(clocks, (began + rng.uniform(0.001, 0.02), worker))
    return sorted(sent)


def in_window(sent: list[tuple[float, int]], begin: float, end: float) -> int:
    starts = [s for s, _ in sent]
    return sum(c for _, c in sent[bisect_left(starts, begin) : bisect_left(starts, end)])


@pytest.mark.parametrize(
    ("rate", "burst", "workers", "seed"),
    [(100.0, 1.0, 8, 1), (10.0, 1.0, 3, 2), (250.0, 0.2, 16, 3), (0.5, 1.0, 4, 4)],
)
def test_interleaved_workers_hold_the_rate_within_one_percent(
    rate: float, burst: float, workers: int, seed: int
) -> None:
    minute = 60.0 if rate >= 1 else 600.0  # a slow channel needs longer to count
    sent = simulate(rate, burst, workers, minute + 20, seed)
    # after a warm-up, a simulated minute carries rate * 60 messages, ±1%
    assert in_window(sent, 10, 10 + minute) == pytest.approx(rate * minute, rel=0.01)
    # and no one-second window (from any batch start) carries more than
    # rate * (1 + window) messages: the burst allowance, never more
    window = max(burst, 1 / rate)
    for begin, _ in sent:
        assert in_window(sent, begin, begin + 1.0) <= rate * (1.0 + window) + 1e-9


def test_after_idleness_a_bursts_worth_goes_at_once_then_the_rate() -> None:
    last = T0 - seconds(3600)  # the channel was busy an hour ago
    now = T0
    starts = []
    next_at: datetime | None = last
    for _ in range(25):
        start, next_at = reserve(next_at, now, 1, rate=10.0, burst=1.0)
        starts.append((start - now).total_seconds())
    assert starts[:10] == [0.0] * 10  # one second's worth at once
    assert starts[10:13] == pytest.approx([0.1, 0.2, 0.3])
    assert starts[-1] == pytest.approx(1.5)
    assert next_at == now + seconds(2.5)


def test_a_batch_waits_until_it_fits_the_window() -> None:
    start, next_at = reserve(None, T0, 100, rate=100.0, burst=1.0)
    assert (start, next_at) == (T0, T0 + seconds(1))
    start, next_at = reserve(next_at, T0, 50, rate=100.0, burst=1.0)
    assert (start, next_at) == (T0 + seconds(0.5), T0 + seconds(1.5))
    # a request that comes late does not get the time it missed
    start, next_at = reserve(next_at, T0 + seconds(30), 1, rate=100.0, burst=1.0)
    assert (start, next_at) == (T0 + seconds(30), T0 + seconds(30.01))


def test_a_slow_channel_lets_one_message_go_after_idleness() -> None:
    # 0.5/s with a one-second burst: half a message is no message, so one
    start, next_at = reserve(None, T0, 1, rate=0.5)
    assert start == T0 and next_at == T0 + seconds(2)
    start, next_at = reserve(next_at, T0, 1, rate=0.5)
    assert start == T0 + seconds(2)
    assert largest_batch(0.5) == 1 and largest_batch(100.0) == 100 and largest_batch(250, 0.2) == 50


def test_a_rate_change_applies_to_new_reservations() -> None:
    next_at: datetime | None = None
    now = T0
    for _ in range(100):  # a backlog of ten seconds at 10/s
        _, next_at = reserve(next_at, now, 1, rate=10.0)
    assert next_at == T0 + seconds(10)
    # raised to 100/s: the backlog drains as reserved, new messages at 100/s
    starts = []
    for _ in range(300):
        start, next_at = reserve(next_at, now, 1, rate=100.0)
        starts.append(start)
    assert starts[0] == T0 + seconds(9.01)
    assert starts[-1] == T0 + seconds(12)
    # lowered to 1/s: the next message goes one second after the last one
    start, next_at = reserve(next_at, now, 1, rate=1.0)
    assert start == T0 + seconds(13) and next_at == T0 + seconds(14)


def test_start_after_matches_reserve_for_an_sql_update() -> None:
    # what the lead's UPDATE ... RETURNING next_at gives, turned into a start
    previous = T0 + seconds(4)
    start, moved = reserve(previous, T0, 20, rate=10.0, burst=2.0)
    assert moved == T0 + seconds(6)
    assert start_after(moved, T0, rate=10.0, burst=2.0) == start == T0 + seconds(4)


def test_the_documented_update_gives_the_same_reservations() -> None:
    # the one-statement form from the module docstring, on a real SQLite
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE throttles (channel TEXT PRIMARY KEY, next_at REAL NOT NULL)")
    now = T0.timestamp()
    db.execute("INSERT INTO throttles VALUES ('sms', ?)", (now - 60,))
    next_at: float | None = now - 60
    rng = random.Random(5)
    for _ in range(200):
        now += rng.uniform(0, 0.3)
        count = rng.randint(1, 10)
        (returned,) = db.execute(
            "UPDATE throttles SET next_at = max(next_at, :now) + :count / :rate"
            " WHERE channel = 'sms' RETURNING next_at",
            {"now": now, "count": count, "rate": 10.0},
        ).fetchone()
        start, next_at = reserve_seconds(next_at, now, count, rate=10.0)
        assert returned == pytest.approx(next_at, abs=1e-6)
        assert start_after_seconds(returned, now, rate=10.0) == pytest.approx(start, abs=1e-6)
    # and the float form agrees with the datetime form
    assert reserve_seconds(T0.timestamp(), T0.timestamp(), 5, 10.0) == (
        T0.timestamp(),
        T0.timestamp() + 0.5,
    )


def test_bad_arguments_are_refused() -> None:
    for count, rate, burst in ((0, 10.0, 1.0), (1, 0.0, 1.0), (1, -1.0, 1.0), (1, 10.0, -1.0)):
        with pytest.raises(ValueError):
            reserve(None, T0, count, rate, burst)
