"""Messages per second per channel, shared by every worker: GCRA reservations.

The throttle of a channel is one instant, `next_at`: the theoretical
arrival time of the GCRA (generic cell rate algorithm), i.e. the moment
by which every message reserved so far would have gone out at exactly
`rate` per second. A reservation of `count` messages at `now` moves it

    next_at' = max(next_at, now) + count / rate

and the batch may start at

    start = max(now, next_at' - window),   window = max(burst, 1 / rate)

So a steady stream of reservations, from any number of workers in any
order, starts exactly `rate` messages per second over time; after
idleness up to `window * rate` messages (burst seconds' worth, at least
one) may start at once, and never more in any `window`: any interval of
length d sees at most rate * (d + window) messages. Credit does not pile
up while idle, because `max(next_at, now)` forgets the past.

Keep a batch at or under `largest_batch(rate, burst)`: a bigger one still
keeps the average rate but starts as one spike after a longer wait.

The caller stores `next_at` per channel and updates it in one atomic
statement, e.g. ``UPDATE throttles SET next_at = max(next_at, :now) +
:count / :rate WHERE channel = :channel RETURNING next_at`` (GREATEST on
PostgreSQL) with `next_at` in Unix seconds, then sleeps until
`start_after_seconds(returned, now, rate, burst)`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from math import floor


def reserve(
    next_at: datetime | None, now: datetime, count: int, rate: float, burst: float = 1.0
) -> tuple[datetime, datetime]:
    """(when these `count` messages may start, the channel's new `next_at`).

    `next_at` is None for a channel never used. `rate` is messages per
    second, `burst` the seconds' worth that may go at once after idleness.
    Raises ValueError for a count below 1, a rate that is not positive or
    a negative burst.
    """
    start, moved = reserve_seconds(
        None if next_at is None else next_at.timestamp(), now.timestamp(), count, rate, burst
    )
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(moved, UTC)


def start_after(next_at: datetime, now: datetime, rate: float, burst: float = 1.0) -> datetime:
    """When a reservation that moved the throttle to `next_at` at `now` may start."""
    start = start_after_seconds(next_at.timestamp(), now.timestamp(), rate, burst)
    return datetime.fromtimestamp(start, UTC)


def reserve_seconds(
    next_at: float | None, now: float, count: int, rate: float, burst: float = 1.0
) -> tuple[float, float]:
    """`reserve` in Unix seconds, as the `throttles` table stores `next_at`."""
    _check(rate, burst)
    if count < 1:
        raise ValueError(f"reserve at least one message, got {count}")
    moved = max(now if next_at is None else next_at, now) + count / rate
    return start_after_seconds(moved, now, rate, burst), moved


def start_after_seconds(next_at: float, now: float, rate: float, burst: float = 1.0) -> float:
    """`start_after` in Unix seconds: the start for the value an UPDATE returned."""
    _check(rate, burst)
    return max(now, next_at - max(burst, 1 / rate))


def largest_batch(rate: float, burst: float = 1.0) -> int:
    """The most messages one reservation should take: a burst's worth, at least 1."""
    _check(rate, burst)
    return max(1, floor(rate * max(burst, 1 / rate) + 1e-9))


def _check(rate: float, burst: float) -> None:
    if not rate > 0:
        raise ValueError(f"a throttle rate is positive messages per second, got {rate}")
    if not burst >= 0:
        raise ValueError(f"a burst is zero or more seconds, got {burst}")
