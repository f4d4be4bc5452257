"""One cell of a campaign: the counts that come in and the figures that go out.

The headline rate is intent-to-treat: responders over everyone *assigned*,
delivered or not (ARCHITECTURE.md invariant 5), because only assignment is
random; the delivered-basis rate is secondary (see docs/statistics.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.stats.means import Sample
from engine.core.stats.proportions import Interval, wilson_interval


@dataclass(frozen=True, slots=True)
class CellCounts:
    """What happened in one cell, counted upstream (no IO here).

    Counts are of customers (contacts) except `sent`..`complained`, which are
    of messages or unique customers as the ledger reports them; `opened`
    excludes machine opens. `revenue` is the total over every assigned
    customer in the response window and `revenue_squares` the total of each
    customer's revenue squared (customers without revenue add 0 to both);
    pass integer cents for exact variances. `cost` is what the cell's
    messages cost (per-message cost × messages, by channel), in the same
    unit as revenue. `delivered_responders` counts responders among the
    customers who had a message delivered (None when not counted). A test
    cell is compared with the control named by `versus`, or with the only
    control cell when `versus` is None. `share` is the planned share of the
    audience, for the sample-ratio check.
    """

    code: str
    assigned: int
    responders: int
    control: bool = False
    versus: str | None = None
    share: float = 0.0
    treated: int = 0
    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    complained: int = 0
    delivered_responders: int | None = None
    revenue: float = 0.0
    revenue_squares: float = 0.0
    cost: float = 0.0

    def __post_init__(self) -> None:
        problems = [f"{name} is negative" for name in _COUNTS if getattr(self, name) < 0]
        if self.responders > self.assigned:
            problems.append("more responders than assigned customers")
        if self.delivered_responders is not None and not (
            0 <= self.delivered_responders <= min(self.delivered, self.responders)
        ):
            problems.append("delivered_responders outside 0..min(delivered, responders)")
        if self.share < 0 or self.cost < 0 or self.revenue_squares < 0:
            problems.append("share, cost and revenue_squares cannot be negative")
        if problems:
            raise ValueError(f"cell {self.code!r}: " + "; ".join(problems))

    @property
    def revenue_sample(self) -> Sample:
        """Revenue per assigned customer, as a sample of `assigned` values."""
        return Sample(self.assigned, self.revenue, self.revenue_squares)


_COUNTS = (
    "assigned",
    "responders",
    "treated",
    "sent",
    "delivered",
    "bounced",
    "opened",
    "clicked",
    "unsubscribed",
    "complained",
)


@dataclass(frozen=True, slots=True)
class CellResult:
    """The figures of one cell. Rates are fractions (0.031 = 3.1%); None when undefined.

    `response_rate` is the headline (responders / assigned) with its 95%
    Wilson interval. `delivered_rate` (delivered_responders / delivered) is
    secondary: delivery is not random, so it is not comparable with the
    control. The funnel rates are plain ratios: delivery and bounce over
    sent; open, click, unsubscribe and complaint over delivered.
    """

    counts: CellCounts
    response_rate: float | None
    response_interval: Interval | None
    delivered_rate: float | None
    delivered_interval: Interval | None
    revenue: float
    revenue_per_customer: float | None
    revenue_sd: float | None
    cost: float
    roi: float | None
    delivery_rate: float | None
    bounce_rate: float | None
    open_rate: float | None
    click_rate: float | None
    unsubscribe_rate: float | None
    complaint_rate: float | None

    @property
    def code(self) -> str:
        """The cell's code."""
        return self.counts.code


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def roi(revenue: float, cost: float) -> float | None:
    """(revenue - cost) / cost; None when cost is 0 (a return on nothing spent)."""
    return (revenue - cost) / cost if cost > 0 else None


def cell_result(counts: CellCounts) -> CellResult:
    """The figures of one cell from its counts."""
    variance = counts.revenue_sample.variance
    delivered_rate = delivered_interval = None
    if counts.delivered_responders is not None:
        delivered_rate = _ratio(counts.delivered_responders, counts.delivered)
        delivered_interval = wilson_interval(counts.delivered_responders, counts.delivered)
    return CellResult(
        counts=counts,
        response_rate=_ratio(counts.responders, counts.assigned),
        response_interval=wilson_interval(counts.responders, counts.assigned),
        delivered_rate=delivered_rate,
        delivered_interval=delivered_interval,
        revenue=counts.revenue,
        revenue_per_customer=counts.revenue_sample.mean,
        revenue_sd=None if variance is None else variance**0.5,
        cost=counts.cost,
        roi=roi(counts.revenue, counts.cost),
        delivery_rate=_ratio(counts.delivered, counts.sent),
        bounce_rate=_ratio(counts.bounced, counts.sent),
        open_rate=_ratio(counts.opened, counts.delivered),
        click_rate=_ratio(counts.clicked, counts.delivered),
        unsubscribe_rate=_ratio(counts.unsubscribed, counts.delivered),
        complaint_rate=_ratio(counts.complained, counts.delivered),
    )
