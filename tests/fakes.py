"""Fakes that keep state: a channel that records what it was given and answers by script."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.core.sending.message import Message, Outcome


def accept(message: Message) -> Outcome:
    return Outcome(message.send_id, "sent", provider_message_id=f"fake-{message.send_id}")


@dataclass
class FakeChannel:
    """Records every message; `script` decides each outcome (default: accepted)."""

    name: str
    script: Callable[[Message], Outcome] = accept
    received: list[Message] = field(default_factory=list)
    flushed: int = 0

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        self.received.extend(messages)
        return [self.script(m) for m in messages]

    def flush(self) -> list[str]:
        self.flushed += 1
        return []

    def close(self) -> None:
        pass


@dataclass
class FakeClock:
    """Time that moves only when told to, or when someone sleeps."""

    now: datetime
    slept: float = 0.0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += timedelta(seconds=seconds)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
