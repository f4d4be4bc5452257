"""A rate per channel shared by every worker: one UPDATE reserves a slot.

GCRA: the row keeps `next_at`, the moment the next message may start. A
worker reserving n messages sets ``next_at = max(next_at, now - burst) +
n / rate`` and may start them at the old value of that max; workers on
any number of machines thus share one rate with no other coordination.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, insert, update
from sqlalchemy.exc import IntegrityError

from engine.core.sending.throttle import start_after_seconds
from engine.db.models import Throttle


@dataclass(frozen=True)
class SqlThrottle:
    engine: Engine
    burst_seconds: float = 0.2  # at most this much of the rate at once after idleness

    def reserve(self, channel: str, count: int, now: float, rate: float) -> float:
        """Reserve `count` messages at `rate`/s; returns when they may start (Unix s)."""
        greatest = func.greatest if self.engine.dialect.name == "postgresql" else func.max
        start = greatest(Throttle.next_at, now)
        statement = (
            update(Throttle)
            .where(Throttle.channel == channel)
            .values(next_at=start + count / rate)
            .returning(Throttle.next_at)
        )
        with self.engine.begin() as conn:
            new = conn.execute(statement).scalar()
            if new is None:  # first use of this channel
                try:
                    with conn.begin_nested():
                        conn.execute(insert(Throttle).values(channel=channel, next_at=0.0))
                except IntegrityError:
                    pass  # another worker created it first
                new = conn.execute(statement).scalar_one()
        return start_after_seconds(float(new), now, rate, self.burst_seconds)
