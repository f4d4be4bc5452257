"""Each test cell against its control, and a whole campaign's results.

Headline figures are intent-to-treat on assignment; `delivered_*` fields are
the secondary delivered basis. docs/statistics.md gives every formula.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from engine.core.stats.cells import CellCounts, CellResult, cell_result, roi
from engine.core.stats.means import welch
from engine.core.stats.multiple import holm
from engine.core.stats.proportions import (
    Interval,
    minimum_detectable_lift,
    newcombe_interval,
    pooled_z_test,
    relative_lift,
    relative_lift_interval,
)
from engine.core.stats.srm import ChiSquare, sample_ratio_check

ALPHA = 0.05  # significance level of the Holm-adjusted p-values


@dataclass(frozen=True, slots=True)
class Comparison:
    """One test cell against its control. Lifts are test minus control, as fractions.

    Response figures are intent-to-treat (responders / assigned). Intervals
    are 95%; `adjusted_p_value` is Holm's over all comparisons of the
    campaign and `significant` means adjusted_p_value <= alpha. Revenue
    figures are per assigned customer (Welch interval, None when a cell has
    fewer than two customers or neither cell varies); `incremental_revenue`
    and `incremental_cost` are for the test cell's whole size, and
    `incremental_roi` is (incremental_revenue - incremental_cost) /
    incremental_cost (None unless the test cell cost more). The
    `delivered_*` figures (test responders among the delivered against the
    whole control) are secondary: delivery is not random.
    """

    test: str
    control: str
    absolute_lift: float
    absolute_lift_interval: Interval
    relative_lift: float | None
    relative_lift_interval: Interval | None
    z: float
    p_value: float
    adjusted_p_value: float
    significant: bool
    incremental_responders: float
    incremental_responders_interval: Interval
    minimum_detectable_lift: float | None
    incremental_revenue_per_customer: float
    incremental_revenue_per_customer_interval: Interval | None
    revenue_df: float | None
    revenue_p_value: float | None
    incremental_revenue: float
    incremental_cost: float
    incremental_roi: float | None
    incremental_roi_interval: Interval | None
    delivered_lift: float | None
    delivered_lift_interval: Interval | None


@dataclass(frozen=True, slots=True)
class CampaignResults:
    """Every cell's figures, every possible comparison, and the sample-ratio check.

    `uncompared` lists test cells that have no comparison (no control cell,
    or an empty cell). `sample_ratio` is None when fewer than two cells have
    a planned share.
    """

    cells: tuple[CellResult, ...]
    comparisons: tuple[Comparison, ...]
    uncompared: tuple[str, ...]
    sample_ratio: ChiSquare | None
    alpha: float = ALPHA

    def cell(self, code: str) -> CellResult | None:
        """The figures of the cell `code`, None when there is no such cell."""
        return next((cell for cell in self.cells if cell.code == code), None)

    def comparison(self, test: str) -> Comparison | None:
        """The comparison of test cell `test`, None when it has none."""
        return next((c for c in self.comparisons if c.test == test), None)


def compare(test: CellCounts, control: CellCounts) -> Comparison | None:
    """Test cell against control, before any multiplicity correction.

    `adjusted_p_value` equals `p_value` here (Holm over one comparison);
    `analyse_campaign` adjusts over all of them. None when a cell is empty.
    """
    x1, n1, x2, n2 = test.responders, test.assigned, control.responders, control.assigned
    lift_interval = newcombe_interval(x1, n1, x2, n2)
    z_test = pooled_z_test(x1, n1, x2, n2)
    if lift_interval is None or z_test is None:
        return None
    lift = x1 / n1 - x2 / n2
    delivered_lift, delivered_interval = _delivered(test, control)
    revenue = _revenue(test, control)
    return Comparison(
        test=test.code,
        control=control.code,
        absolute_lift=lift,
        absolute_lift_interval=lift_interval,
        relative_lift=relative_lift(x1, n1, x2, n2),
        relative_lift_interval=relative_lift_interval(x1, n1, x2, n2),
        z=z_test.statistic,
        p_value=z_test.p_value,
        adjusted_p_value=z_test.p_value,
        significant=z_test.p_value <= ALPHA,
        incremental_responders=lift * n1,
        incremental_responders_interval=lift_interval.scaled(n1),
        minimum_detectable_lift=minimum_detectable_lift(x2 / n2, n2, n1),
        incremental_revenue_per_customer=revenue.per_customer,
        incremental_revenue_per_customer_interval=revenue.interval,
        revenue_df=revenue.df,
        revenue_p_value=revenue.p_value,
        incremental_revenue=revenue.total,
        incremental_cost=revenue.cost,
        incremental_roi=revenue.roi,
        incremental_roi_interval=revenue.roi_interval,
        delivered_lift=delivered_lift,
        delivered_lift_interval=delivered_interval,
    )


@dataclass(frozen=True, slots=True)
class _Revenue:
    per_customer: float
    interval: Interval | None
    df: float | None
    p_value: float | None
    total: float
    cost: float
    roi: float | None
    roi_interval: Interval | None


def _revenue(test: CellCounts, control: CellCounts) -> _Revenue:
    """The revenue and ROI figures of a comparison (both cells non-empty)."""
    n1 = test.assigned
    per_customer = test.revenue / n1 - control.revenue / control.assigned
    cost = test.cost - control.cost / control.assigned * n1
    result = welch(test.revenue_sample, control.revenue_sample)
    interval = None if result is None else result.interval
    roi_interval = None
    if interval is not None and cost > 0:
        # ROI is increasing in revenue for a fixed cost, so the ends map to ends
        roi_interval = interval.scaled(n1 / cost, -1.0)
    return _Revenue(
        per_customer=per_customer,
        interval=interval,
        df=None if result is None else result.df,
        p_value=None if result is None else result.p_value,
        total=per_customer * n1,
        cost=cost,
        roi=roi(per_customer * n1, cost),
        roi_interval=roi_interval,
    )


def _delivered(test: CellCounts, control: CellCounts) -> tuple[float | None, Interval | None]:
    """Secondary lift: test responders among its delivered against the whole control."""
    if test.delivered_responders is None or test.delivered <= 0:
        return None, None
    x1, n1 = test.delivered_responders, test.delivered
    lift = x1 / n1 - control.responders / control.assigned
    return lift, newcombe_interval(x1, n1, control.responders, control.assigned)


def analyse_campaign(cells: Sequence[CellCounts], alpha: float = ALPHA) -> CampaignResults:
    """Figures for every cell, each test cell against its control, Holm over all tests.

    A test cell is compared with the control cell named by its `versus`, or
    with the only control cell when `versus` is None; with no such control,
    or an empty cell, it is listed in `uncompared` instead. Raises
    ValueError for two cells with one code.
    """
    by_code = {cell.code: cell for cell in cells}
    if len(by_code) != len(cells):
        raise ValueError("two cells share a code")
    controls = [cell for cell in cells if cell.control]
    raw: list[Comparison] = []
    uncompared: list[str] = []
    for cell in cells:
        if cell.control:
            continue
        control = _control_of(cell, by_code, controls)
        found = None if control is None else compare(cell, control)
        if found is None:
            uncompared.append(cell.code)
        else:
            raw.append(found)
    adjusted = holm([c.p_value for c in raw])
    comparisons = tuple(
        dataclasses.replace(c, adjusted_p_value=p, significant=p <= alpha)
        for c, p in zip(raw, adjusted, strict=True)
    )
    return CampaignResults(
        cells=tuple(cell_result(cell) for cell in cells),
        comparisons=comparisons,
        uncompared=tuple(uncompared),
        sample_ratio=_sample_ratio(cells),
        alpha=alpha,
    )


def _control_of(
    cell: CellCounts, by_code: dict[str, CellCounts], controls: list[CellCounts]
) -> CellCounts | None:
    if cell.versus is not None:
        named = by_code.get(cell.versus)
        return named if named is not None and named.control else None
    return controls[0] if len(controls) == 1 else None


def _sample_ratio(cells: Sequence[CellCounts]) -> ChiSquare | None:
    """Observed sizes against the planned shares (normalised to sum to 1)."""
    planned = sum(cell.share for cell in cells)
    if planned <= 0:
        return None
    return sample_ratio_check([c.assigned for c in cells], [c.share / planned for c in cells])
