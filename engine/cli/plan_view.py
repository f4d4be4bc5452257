"""How a plan reads: rich tables for people, a JSON document for scripts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.panel import Panel

from engine.cli.ui import table
from engine.services.planning import Plan


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def print_plan(console: Console, plan: Plan) -> None:
    funnel = plan.funnel
    console.rule(f"[bold]plan {plan.key}[/]: {plan.name}")
    console.print(
        f"as of {plan.now:%Y-%m-%d %H:%M} UTC, campaign timezone {plan.timezone}, "
        f"entry channel(s): {', '.join(plan.channels)}",
        highlight=False,
    )
    rows: list[tuple[object, ...]] = [("matched by segment", funnel.matched, "")]
    remaining = funnel.matched
    for reason, count in funnel.excluded:
        remaining -= count
        rows.append((f"  - {reason.replace('_', ' ')}", -count if count else 0, ""))
    rows.append(("eligible", funnel.eligible, _pct(funnel.eligible, funnel.matched)))
    console.print(table("audience funnel", ["step", "customers", "of matched"], rows))
    console.print(
        table(
            "cells (as a launch would assign them now)",
            ["cell", "role", "share", "customers"],
            [
                (c.code, "control" if c.control else "test", f"{c.share:.1%}", c.size)
                for c in plan.cells
            ],
        )
    )
    console.print(
        table(
            f"steps (costs in {plan.currency})",
            ["step", "channel", "when", "messages", "first send", "cost"],
            [
                (
                    s.id,
                    s.channel,
                    s.trigger,
                    f"up to {s.volume:,}" if s.follow_up else s.volume,
                    f"{s.first_send:%a %Y-%m-%d %H:%M}" if s.first_send else "on trigger",
                    f"{'≤ ' if s.follow_up else ''}{s.cost:,.2f}",
                )
                for s in plan.steps
            ],
        )
    )
    costs = plan.cost_by_channel()
    total = sum(costs.values(), Decimal(0))
    console.print(
        f"estimated cost: {total:,.2f} {plan.currency} "
        f"({', '.join(f'{ch} {cost:,.2f}' for ch, cost in costs.items())}; follow-ups at most)",
        highlight=False,
    )
    for sample in plan.samples:
        message = sample.message
        body = (
            message.text
            if message.subject is None
            else f"Subject: {message.subject}\n\n{message.text}"
        )
        console.print(
            Panel(body, title=f"sample: cell {sample.cell}, step {sample.step} ({message.channel})")
        )
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data (numbers stay numbers; money as strings)."""
    return {
        "key": plan.key,
        "name": plan.name,
        "as_of": plan.now.isoformat(),
        "timezone": plan.timezone,
        "channels": list(plan.channels),
        "funnel": {
            "matched": plan.funnel.matched,
            "excluded": dict(plan.funnel.excluded),
            "eligible": plan.funnel.eligible,
        },
        "cells": [
            {"code": c.code, "control": c.control, "share": str(c.share), "size": c.size}
            for c in plan.cells
        ],
        "steps": [
            {
                "id": s.id,
                "channel": s.channel,
                "template": s.template,
                "when": s.trigger,
                "messages": s.volume,
                "upper_bound": s.follow_up,
                "first_send": s.first_send.isoformat() if s.first_send else None,
                "cost": str(s.cost),
            }
            for s in plan.steps
        ],
        "cost": {
            "currency": plan.currency,
            **{k: str(v) for k, v in plan.cost_by_channel().items()},
        },
        "baseline_response_rate": plan.baseline_rate,
        "min_detectable_lift": plan.min_detectable_lift,
        "samples": [
            {
                "cell": s.cell,
                "step": s.step,
                "channel": s.message.channel,
                "subject": s.message.subject,
                "text": s.message.text,
            }
            for s in plan.samples
        ],
        "warnings": list(plan.warnings),
    }
