"""The response model of a simulation: who is delivered, opens, clicks, replies, responds, when.

A model file names, per channel, per step, per cell and per step within a
cell, the chance of each reaction and the median of its delay::

    channels:
      email: {opened: {p: 30%, delay: 2h}}
    steps:
      reminder: {opened: {p: 45%, delay: 20m}}
    cells:
      offer20:
        responded: {p: 5%, delay: 1d}
        steps:
          offer: {clicked: {p: 35%, delay: 5m}}

The most specific layer wins reaction by reaction (cell+step, cell, step,
channel, then `DEFAULT_MODEL`). Chances are conditional on the stage before:
a send is bounced or else delivered; opens (e-mail) count among delivered
sends, clicks among opens; replies (SMS), responses and unsubscribes among
delivered sends. A delay is the median of an exponential wait from that
stage (delivery counts from the send, clicks from the open).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Final, Literal

from pydantic import Field

from engine.core.campaign.segment import Strict
from engine.core.campaign.spec import CampaignSpec, Channel, Slug
from engine.core.campaign.values import Duration, Share

Reaction = Literal[
    "bounced", "delivered", "opened", "clicked", "replied", "responded", "unsubscribed"
]
REACTIONS: Final[tuple[Reaction, ...]] = (
    "bounced",
    "delivered",
    "opened",
    "clicked",
    "replied",
    "responded",
    "unsubscribed",
)
# The reactions each channel can report (a call reports only responses here).
CHANNEL_REACTIONS: Final[dict[str, frozenset[str]]] = {
    "email": frozenset(REACTIONS) - {"replied"},
    "sms": frozenset({"bounced", "delivered", "replied", "responded", "unsubscribed"}),
    "mail": frozenset({"bounced", "delivered", "responded"}),
    "call": frozenset({"delivered", "responded"}),
}


class Chance(Strict):
    """``{p: 30%, delay: 2h}``: happens with chance `p`, after a wait of median `delay`."""

    p: Share
    delay: Duration = timedelta(0)


class Reactions(Strict):
    """The chance of each reaction (None: the next layer decides)."""

    bounced: Chance | None = None
    delivered: Chance | None = None
    opened: Chance | None = None
    clicked: Chance | None = None
    replied: Chance | None = None
    responded: Chance | None = None
    unsubscribed: Chance | None = None

    def chance(self, reaction: Reaction) -> Chance:
        found: Chance | None = getattr(self, reaction)
        return found if found is not None else NEVER

    def given(self) -> dict[str, Chance]:
        """The reactions this layer sets."""
        return {r: c for r in REACTIONS if (c := getattr(self, r)) is not None}


class CellReactions(Reactions):
    steps: dict[Slug, Reactions] = Field(default_factory=dict)


class ResponseModel(Strict):
    channels: dict[Channel, Reactions] = Field(default_factory=dict)
    steps: dict[Slug, Reactions] = Field(default_factory=dict)
    cells: dict[Slug, CellReactions] = Field(default_factory=dict)
    order_value: Annotated[Decimal, Field(gt=0)] = Decimal(100)  # per response, base currency

    def reactions(self, channel: str, step: str, cell: str) -> Reactions:
        """The reactions of a send of `step` on `channel` to a contact in `cell`."""
        in_cell = self.cells.get(cell)
        layers = [
            DEFAULT_MODEL[channel],
            {str(k): v for k, v in self.channels.items()}.get(channel),
            self.steps.get(step),
            in_cell,
            in_cell.steps.get(step) if in_cell else None,
        ]
        merged: dict[str, Chance] = {}
        for layer in layers:
            merged |= layer.given() if layer is not None else {}
        return Reactions.model_validate(merged)


NEVER: Final = Chance.model_validate({"p": 0})


def _chances(**given: tuple[str, str]) -> Reactions:
    return Reactions.model_validate({k: {"p": p, "delay": d} for k, (p, d) in given.items()})


# The documented default model (docs/simulate.md): typical house-list rates.
DEFAULT_MODEL: Final[dict[str, Reactions]] = {
    "email": _chances(
        bounced=("2%", "1m"),
        delivered=("98%", "1m"),
        opened=("25%", "2h"),
        clicked=("20%", "5m"),
        responded=("2%", "1d"),
        unsubscribed=("0.3%", "1h"),
    ),
    "sms": _chances(
        bounced=("2%", "1m"),
        delivered=("98%", "1m"),
        replied=("2%", "30m"),
        responded=("3%", "1d"),
        unsubscribed=("1%", "30m"),
    ),
    "mail": _chances(bounced=("3%", "3d"), delivered=("97%", "3d"), responded=("3%", "5d")),
    "call": _chances(delivered=("60%", "0m"), responded=("8%", "0m")),
}


def check_model(model: ResponseModel, spec: CampaignSpec) -> list[tuple[tuple[str, ...], str]]:
    """(YAML path, message) for every step or cell the campaign does not have,
    and every reaction a channel cannot report."""
    steps = {step.id: step.channel for step in spec.steps}
    cells = set(spec.groups.cells) | {"control"}
    found: list[tuple[tuple[str, ...], str]] = []
    layers: list[tuple[tuple[str, ...], Reactions, set[str]]] = []
    for channel, reactions in model.channels.items():
        layers.append((("channels", channel), reactions, {channel}))
    for step, reactions in model.steps.items():
        if step not in steps:
            found.append((("steps", step), f"the campaign has no step {step!r}"))
        layers.append((("steps", step), reactions, {steps.get(step, "")}))
    for cell, in_cell in model.cells.items():
        if cell not in cells:
            found.append((("cells", cell), f"the campaign has no cell {cell!r}"))
        if cell == "control":
            found.append((("cells", cell), "the control cell gets no messages to react to"))
        layers.append((("cells", cell), in_cell, set(steps.values())))
        for step, reactions in in_cell.steps.items():
            if step not in steps:
                found.append((("cells", cell, "steps", step), f"the campaign has no step {step!r}"))
            layers.append((("cells", cell, "steps", step), reactions, {steps.get(step, "")}))
    for path, reactions, channels in layers:
        for reaction in reactions.given():
            able = {c for c in channels if reaction in CHANNEL_REACTIONS.get(c, frozenset())}
            if channels - {""} and not able:
                found.append(
                    ((*path, reaction), f"{'/'.join(sorted(channels))} cannot report {reaction}")
                )
    return found
