"""How `campaign simulate` prints its timeline (rich tables)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from rich.console import Console

from engine.cli.ui import table
from engine.core.campaign.spec import CampaignSpec
from engine.core.simulation.model import REACTIONS
from engine.core.simulation.timeline import Timeline

# What each hold-back reason means, for a marketer.
HELD: dict[str, str] = {
    "deferred_send_window": "deferred to the next send window",
    "deferred_quiet_hours": "deferred to the end of quiet hours",
    "expired": "skipped: expired before it could go",
    "expired_before_window": "skipped: the window opens after it expires",
}
PREFIXES: dict[str, str] = {
    "frequency_cap_": "skipped: frequency cap",
    "no_consent_": "skipped: no consent (or withdrawn)",
    "suppressed_": "skipped: suppressed",
    "unreachable_": "skipped: no address",
}


def print_simulation(
    console: Console, spec: CampaignSpec, timeline: Timeline, currency: str
) -> None:
    start = timeline.start.astimezone(timeline.zone)
    console.rule(
        f"[bold]simulated {spec.key}: {timeline.days} days from {start:%Y-%m-%d %H:%M} "
        f"({timeline.zone})"
    )
    cells = [
        (code, "control" if control else "test", timeline.contacts[code])
        for code, control in timeline.cells.items()
    ]
    console.print(table("cells", ["cell", "role", "contacts"], cells))
    columns = _columns(spec, timeline)
    console.print(_pivot("sends per day (campaign time)", "day", timeline.daily, columns, str))
    if timeline.hourly:
        title = f"sends per hour, first {timeline.hourly_days} day(s)"
        console.print(_pivot(title, "hour", timeline.hourly, columns, _hour))
    console.print(_reactions(timeline))
    fired = sorted((step, how, n) for (step, how), n in timeline.fired.items())
    console.print(
        table(
            "follow-ups", ["step", "trigger, or why not queued", "sends"], fired or [("-", "-", 0)]
        )
    )
    held = sorted(
        (step, cell, describe(reason), n) for (step, cell, reason), n in timeline.held.items()
    )
    heads = ["step", "cell", "held back", "sends"]
    console.print(table("held back at send time", heads, held or [("-", "-", "nothing", 0)]))
    cost = timeline.cost(spec.costs)
    rows: list[tuple[Any, ...]] = [
        (channel, cell, timeline.messages[(channel, cell)], _money(amount))
        for (channel, cell), amount in cost.items()
    ]
    total = sum(cost.values(), Decimal(0))
    rows.append(("total", "", sum(timeline.messages.values()), _money(total)))
    console.print(
        table(f"expected cost ({currency})", ["channel", "cell", "messages", "cost"], rows)
    )


def describe(reason: str) -> str:
    """A hold-back reason in words (the reason code kept in brackets)."""
    if reason in HELD:
        return f"{HELD[reason]} ({reason})"
    for prefix, words in PREFIXES.items():
        if reason.startswith(prefix):
            return f"{words} ({reason})"
    return reason


def _columns(spec: CampaignSpec, timeline: Timeline) -> list[tuple[str, str]]:
    went = timeline.sends_by()
    order = {step.id: i for i, step in enumerate(spec.steps)}
    return sorted(went, key=lambda key: (order.get(key[0], 99), key[1]))


def _pivot(
    title: str, head: str, counts: Counter[Any], columns: list[tuple[str, str]], label: Any
) -> Any:
    times = sorted({key[0] for key in counts})
    rows = []
    for at in times:
        values = [counts[(at, step, cell)] for step, cell in columns]
        rows.append([label(at), *values, sum(values)])
    heads = [head, *(f"{step} {cell}" for step, cell in columns), "total"]
    return table(title, heads, rows or [["-", *([0] * len(columns)), 0]])


def _reactions(timeline: Timeline) -> Any:
    sends = timeline.sends_by()
    keys = sorted(sends)
    kinds = [k for k in REACTIONS if any(timeline.reactions[(s, c, k)] for s, c in keys)]
    rows = [
        [step, cell, sends[(step, cell)], *(timeline.reactions[(step, cell, k)] for k in kinds)]
        for step, cell in keys
    ]
    return table("simulated reactions", ["step", "cell", "sent", *kinds], rows or [["-", "-", 0]])


def _hour(at: Any) -> str:
    return f"{at:%a %m-%d %H:00}"


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"
