"""The dispatcher paces a throttled channel: claims of one chunk, the rate kept over time."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from engine.bootstrap import Adapters
from engine.db.models import Send

from .fakes import FakeChannel, FakeClock
from .test_dispatch import OPEN, SMS, dispatch, launch, people
from .test_launch import table

RATE = 20.0  # SMS per second; a chunk is 0.2 s of it: 4 messages


def test_a_throttled_channel_sends_at_its_rate_in_chunks_handed_over_in_order(
    adapters: Adapters,
) -> None:
    people(adapters, 125, channel="sms")
    launch(adapters, SMS, now=OPEN)
    clock, channel = FakeClock(OPEN), FakeChannel("sms")
    report = dispatch(adapters, clock, channel, throttle={"sms": RATE})
    sends = table(adapters, Send)
    n = len(sends)
    assert report.states[("sms", "sent")] == n and n > 50
    chunks = -(-n // 4)
    # Time moves only while the dispatcher waits for its slots: one chunk
    # every 0.2 s, the first at once.
    assert abs(clock.slept - (chunks - 1) * 4 / RATE) < 0.01
    handed = Counter(s["handed_at"] for s in sends)
    sizes = Counter(handed.values())  # every claim one chunk, handed over at once
    assert sizes == ({4: n // 4, n % 4: 1} if n % 4 else {4: n // 4})
    starts = sorted(handed)
    gaps = {round((b - a).total_seconds(), 3) for a, b in pairwise(starts)}
    assert gaps == {0.2}
    assert [m.send_id for m in channel.received] == sorted(s["id"] for s in sends)
