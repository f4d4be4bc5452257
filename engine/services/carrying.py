"""`Carrier`: a channel's provider calls, one chunk in flight while the next is prepared.

The dispatcher claims, checks and renders the next batch while the
provider answers the previous one (that round trip is mostly waiting).
Invariant 1 holds because the order of the records does not change: a
chunk is handed over (committed) before its call starts, and the previous
chunk is settled, and its side effects applied, before the next one is
handed over, so a campaign paused by one answer sends nothing more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Protocol

from engine.core.sending.due import Due
from engine.core.sending.message import Message, Outcome
from engine.core.sending.states import RetryPolicy, Settled, settle
from engine.services.ports import Channel


class Records(Protocol):
    def hand_over(self, ids: Sequence[int], now: datetime, worker: str) -> None: ...
    def settle(self, settled: Sequence[Settled], now: datetime, worker: str) -> None: ...
    def defer(self, until: Sequence[tuple[int, datetime]], now: datetime, worker: str) -> None: ...


class Effects(Protocol):
    def apply(
        self, results: Sequence[tuple[Due, Outcome]], now: datetime, pause_after: int
    ) -> list[tuple[int, str]]: ...


class Carrier:
    """Sends chunks of one channel in a background thread, one at a time, settling in order."""

    def __init__(
        self,
        channel: Channel,
        records: Records,
        effects: Effects,
        clock: Callable[[], datetime],
        rules: tuple[str, RetryPolicy, int],  # worker, retry policy, pause after n errors
    ) -> None:
        self.channel, self.records, self.effects, self.clock = channel, records, effects, clock
        self.worker, self.retry, self.pause_after = rules
        self.states: Counter[str] = Counter()
        self.paused: set[int] = set()  # campaigns paused by this pass's answers
        self.reasons: list[str] = []
        self.ahead: float | None = None  # a throttle slot (Unix s) reserved before its claim
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"carrier-{channel.name}")
        self._flying: tuple[list[tuple[Due, Message]], Future[list[Outcome]]] | None = None

    def send(self, chunk: Sequence[tuple[Due, Message]]) -> None:
        """Settle the chunk in flight, then hand `chunk` over and start its call."""
        self.land()
        held = [(d.send_id, self.clock()) for d, _ in chunk if d.campaign_id in self.paused]
        self.records.defer(held, self.clock(), self.worker)
        going = [(d, m) for d, m in chunk if d.campaign_id not in self.paused]
        if not going:
            return
        self.records.hand_over([d.send_id for d, _ in going], self.clock(), self.worker)
        call = self._thread.submit(self.channel.send, [m for _, m in going])
        self._flying = (going, call)

    def land(self) -> None:
        """Wait for the chunk in flight (if any); settle it and apply its side effects."""
        if self._flying is None:
            return
        chunk, call = self._flying
        self._flying = None
        outcomes = call.result()
        now = self.clock()
        settled = [
            settle(o, d.attempts + 1, self.retry, now)
            for (d, _), o in zip(chunk, outcomes, strict=True)
        ]
        self.records.settle(settled, now, self.worker)
        self.states.update(s.state for s in settled)
        results = [(d, o) for (d, _), o in zip(chunk, outcomes, strict=True)]
        for campaign_id, reason in self.effects.apply(results, now, self.pause_after):
            self.paused.add(campaign_id)
            self.reasons.append(reason)

    def close(self) -> None:
        """Settle what is in flight and stop the thread."""
        try:
            self.land()
        finally:
            self._thread.shutdown(wait=True)
