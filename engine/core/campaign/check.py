"""Checks that need the whole campaign: references, operators, shares.

Each check returns findings with the YAML path they are about, so the caller
can print ``file:line:col field.path: message`` for every one of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from engine.core.campaign.fields import FIELDS, OPERATORS, Kind
from engine.core.campaign.segment import (
    AttributeIs,
    FieldOps,
    Group,
    condition_name,
)
from engine.core.campaign.spec import AfterEntry, AfterStep, CampaignSpec, NoEvent, OnEvent

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    path: Path
    message: str
    severity: Literal["error", "warning"] = "error"


def check_campaign(spec: CampaignSpec) -> list[Finding]:
    """Every cross-field problem of `spec` (schema errors are pydantic's job)."""
    return [
        *_shares(spec),
        *_steps(spec),
        *(
            _segment(spec.audience.segment, ("audience", "segment"))
            if spec.audience.segment
            else []
        ),
    ]


def _percent(share: Decimal) -> str:
    return f"{(share * 100).normalize():f}%"


def _shares(spec: CampaignSpec) -> Iterator[Finding]:
    groups = spec.groups
    total = groups.control + sum((cell.share for cell in groups.cells.values()), Decimal(0))
    if total != 1:
        last = list(groups.cells)[-1]
        yield Finding(("groups", "cells", last, "share"), f"shares add up to {_percent(total)}")
    if spec.entry is not None and groups.stratify_by is not None:
        yield Finding(
            ("groups", "stratify_by"),
            "stratification needs the whole audience at once; trigger campaigns split by hash",
        )
    if groups.control == 0:
        yield Finding(("groups", "control"), "no control group: lift cannot be measured", "warning")
    for code, cell in groups.cells.items():
        if cell.share == 0:
            yield Finding(("groups", "cells", code, "share"), "a cell with 0% gets nobody")


def _steps(spec: CampaignSpec) -> Iterator[Finding]:
    ids = [step.id for step in spec.steps]
    if not spec.first_steps():
        yield Finding(("steps",), "no first step: at least one step needs no `when`")
    for index, step in enumerate(spec.steps):
        where: Path = ("steps", index)
        if step.id in ids[:index]:
            yield Finding((*where, "id"), f"step id {step.id!r} is used twice")
        trigger = step.when
        if isinstance(trigger, OnEvent | NoEvent | AfterStep):
            target = trigger.after if isinstance(trigger, AfterStep) else trigger.step
            key = "after" if isinstance(trigger, AfterStep) else _trigger_key(trigger)
            if target not in ids[:index]:
                yield Finding(
                    (*where, "when", key), f"refers to {target!r}, which is not an earlier step"
                )
            elif target == step.id:
                yield Finding((*where, "when", key), "a step cannot follow itself")
        elif isinstance(trigger, AfterEntry) and spec.entry is None:
            yield Finding(
                (*where, "when", "after_entry"),
                "after_entry needs an entry: block (trigger campaign)",
            )
    yield from _alternatives(spec)
    for code, cell in spec.groups.cells.items():
        for position, name in enumerate(cell.steps or []):
            where = ("groups", "cells", code, "steps", position)
            if name not in ids:
                yield Finding(where, f"no step called {name!r}")
                continue
            trigger = spec.steps[ids.index(name)].when
            source = _source_step(trigger) or _else_of(spec, name)
            if source is not None and source not in (cell.steps or []):
                yield Finding(where, f"{name!r} follows {source!r}, which cell {code} does not get")


def _alternatives(spec: CampaignSpec) -> Iterator[Finding]:
    """`else:` names another step of this campaign, triggered by nothing else, once."""
    steps = {step.id: step for step in spec.steps}
    named: dict[str, str] = {}
    for index, step in enumerate(spec.steps):
        target = step.else_
        if target is None:
            continue
        where: Path = ("steps", index, "else")
        if not isinstance(step.when, OnEvent):
            yield Finding(where, "else: goes with an event trigger (opened:, clicked:, ...)")
        elif target not in steps:
            yield Finding(where, f"no step called {target!r}")
        elif target in _ancestry(spec, step.id):
            yield Finding(where, f"{target!r} leads to {step.id!r}: a cycle")
        elif steps[target].when is not None:
            yield Finding(where, f"{target!r} has its own `when`; an else step has none")
        elif target in named:
            yield Finding(where, f"{target!r} is already the else of {named[target]!r}")
        else:
            named[target] = step.id


def _ancestry(spec: CampaignSpec, step_id: str) -> set[str]:
    """`step_id` and every step it follows, through triggers and elses."""
    parents = {s.id: _source_step(s.when) for s in spec.steps}
    for s in spec.steps:
        if s.else_ is not None and parents.get(s.else_) is None:
            parents[s.else_] = s.id
    seen: set[str] = set()
    current: str | None = step_id
    while current is not None and current not in seen:
        seen.add(current)
        current = parents.get(current)
    return seen


def _else_of(spec: CampaignSpec, step_id: str) -> str | None:
    """The step whose `else` `step_id` is (None when it is nobody's)."""
    return next((step.id for step in spec.steps if step.else_ == step_id), None)


def _source_step(trigger: object) -> str | None:
    if isinstance(trigger, AfterStep):
        return trigger.after
    return trigger.step if isinstance(trigger, OnEvent | NoEvent) else None


def _trigger_key(trigger: OnEvent | NoEvent) -> str:
    return trigger.event if isinstance(trigger, OnEvent) else f"not_{trigger.event}"


def _segment(node: BaseModel, path: Path) -> Iterator[Finding]:
    """Operators and values that do not fit the field they test."""
    if isinstance(node, Group):
        for key in ("all", "any", "none"):
            for index, child in enumerate(getattr(node, key) or []):
                yield from _segment(child, (*path, key, index))
        return
    name = condition_name(node)
    if isinstance(node, AttributeIs):
        yield from _operators(node.attribute, Kind.TEXT, (*path, name), ())
    elif name in FIELDS:
        info = FIELDS[name]
        yield from _operators(getattr(node, name), info.kind, (*path, name), info.choices)


def _operators(
    ops: FieldOps, kind: Kind, path: Path, choices: tuple[str, ...]
) -> Iterator[Finding]:
    allowed = OPERATORS[kind]
    for op in ops.used():
        if op not in allowed and op != "name":
            yield Finding(
                (*path, op),
                f"{op} does not apply to a {kind.value} field; use {', '.join(sorted(allowed))}",
            )
    for op in ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between"):
        value = getattr(ops, "in_" if op == "in" else op)
        values = value if isinstance(value, list | tuple) else [] if value is None else [value]
        for item in values:
            problem = _bad_value(item, kind, choices)
            if problem:
                yield Finding((*path, op), problem)


def _bad_value(value: object, kind: Kind, choices: tuple[str, ...]) -> str | None:
    if kind is Kind.CHOICE and value not in choices:
        return f"{value!r} is not one of {', '.join(choices)}"
    if kind in (Kind.NUMBER, Kind.MONEY) and not isinstance(value, int | float | Decimal):
        return f"{value!r} is not a number"
    return None
