"""The timeline of a simulation: sends per day and hour, reactions, follow-ups, holds, cost.

Days and hours are the campaign's wall clock (its `schedule.timezone`), so
a marketer reads them as the calendar of the launch. Costs are the
campaign file's cost per message times the messages that went, per channel
and cell (like the report: SMS segments are not counted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from engine.core.campaign.spec import Costs
from engine.core.simulation.reactions import Planned, SentMessage

Key = tuple[str, str]  # (step, cell)


@dataclass
class Timeline:
    """Everything a simulation counted, from `start` for `days` days in `zone`."""

    start: datetime
    days: int
    zone: tzinfo
    hourly_days: int = 1
    daily: Counter[tuple[date, str, str]] = field(default_factory=Counter)
    hourly: Counter[tuple[datetime, str, str]] = field(default_factory=Counter)
    reactions: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    fired: Counter[tuple[str, str]] = field(default_factory=Counter)  # (step, trigger kind)
    held: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (step, cell, reason)
    messages: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, cell)
    cells: dict[str, bool] = field(default_factory=dict)  # code -> is control
    contacts: Counter[str] = field(default_factory=Counter)  # cell -> contacts
    first_sent: datetime | None = None  # hour by hour from here for `hourly_days`
    ticks: int = 0  # moments the engine ran at

    def sent(self, messages: Iterable[SentMessage]) -> None:
        """Count messages that went (in time order, as the simulation reads them)."""
        for m in messages:
            self.first_sent = self.first_sent or m.sent_at
            local = m.sent_at.astimezone(self.zone)
            self.daily[(local.date(), m.step, m.cell)] += 1
            if m.sent_at < self.first_sent + timedelta(days=self.hourly_days):
                hour = local.replace(minute=0, second=0, microsecond=0, tzinfo=None)
                self.hourly[(hour, m.step, m.cell)] += 1
            self.messages[(m.channel, m.cell)] += 1

    def reacted(self, planned: Iterable[Planned]) -> None:
        for p in planned:
            self.reactions[(p.message.step, p.message.cell, p.kind)] += 1

    def cost(self, costs: Costs) -> dict[tuple[str, str], Decimal]:
        """(channel, cell) -> messages that went x the channel's cost per message."""
        return {key: costs.per(key[0]) * n for key, n in sorted(self.messages.items())}

    def sends_by(self) -> Counter[Key]:
        """Messages that went per (step, cell)."""
        found: Counter[Key] = Counter()
        for (_, step, cell), n in self.daily.items():
            found[(step, cell)] += n
        return found

    def as_json(self, costs: Costs, currency: str) -> dict[str, Any]:
        """Plain data for `--json`: lists of rows, times in ISO 8601."""
        spent = self.cost(costs)
        return {
            "start": self.start.isoformat(),
            "days": self.days,
            "ticks": self.ticks,
            "timezone": str(self.zone),
            "cells": [
                {"cell": code, "control": control, "contacts": self.contacts[code]}
                for code, control in self.cells.items()
            ],
            "daily": _rows(("day", "step", "cell", "sends"), self.daily, str),
            "hourly": _rows(("hour", "step", "cell", "sends"), self.hourly, _iso),
            "reactions": _rows(("step", "cell", "reaction", "count"), self.reactions, str),
            "followups": _rows(("step", "trigger", "sends"), self.fired, str),
            "held": _rows(("step", "cell", "reason", "sends"), self.held, str),
            "cost": {
                "currency": currency,
                "rows": [
                    {
                        "channel": ch,
                        "cell": cell,
                        "messages": self.messages[(ch, cell)],
                        "cost": str(amount),
                    }
                    for (ch, cell), amount in spent.items()
                ],
                "total": str(sum(spent.values(), Decimal(0))),
            },
        }


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _rows(names: tuple[str, ...], counts: Counter[Any], first: Any) -> list[dict[str, Any]]:
    rows = []
    for key, n in sorted(counts.items()):
        values = [first(key[0]), *key[1:]]
        rows.append(dict(zip(names, [*values, n], strict=True)))
    return rows
