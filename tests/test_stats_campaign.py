"""Campaign results end to end: every figure against scipy/statsmodels, edge cases, coverage.

The helpers and the figure-by-figure checks of the building blocks are in
tests/test_stats.py; here a whole campaign goes through `analyse_campaign`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from engine.core.stats import (
    CampaignResults,
    CellCounts,
    Comparison,
    analyse_campaign,
    newcombe_interval,
)
from tests.test_stats import close, revenue_cents, same_interval

SIZES = {"control": 2000, "A": 6000, "B": 6100, "C": 5900}
BUYERS = {"control": 0.03, "A": 0.034, "B": 0.041, "C": 0.029}


def campaign() -> tuple[list[CellCounts], dict[str, np.ndarray]]:
    """A control and three test cells with per-customer revenue in cents."""
    rng = np.random.default_rng(2026)
    cells, revenue = [], {}
    for code, n in SIZES.items():
        values = revenue_cents(rng, n, BUYERS[code], 45)
        revenue[code] = values
        control = code == "control"
        delivered = 0 if control else int(n * 0.9)
        responders = int(np.count_nonzero(values))
        cells.append(
            CellCounts(
                code=code,
                assigned=n,
                responders=responders,
                control=control,
                share=0.1 if control else 0.3,
                treated=0 if control else n,
                sent=0 if control else n,
                delivered=delivered,
                bounced=0 if control else n - delivered,
                opened=delivered // 4,
                clicked=delivered // 20,
                unsubscribed=3,
                complained=1,
                delivered_responders=None if control else responders * 9 // 10,
                revenue=int(values.sum()),
                revenue_squares=int((values * values).sum()),
                cost=0.0 if control else 0.75 * 100 * n,  # 0.75 a message, in cents
            )
        )
    return cells, revenue


Analysed = tuple[CampaignResults, list[CellCounts], dict[str, np.ndarray]]


@pytest.fixture(scope="module")
def analysed() -> Analysed:
    cells, revenue = campaign()
    return analyse_campaign(cells), cells, revenue


def test_every_cell_figure_matches_the_references(analysed: Analysed) -> None:
    results, cells, revenue = analysed
    for counts in cells:
        cell = results.cell(counts.code)
        assert cell is not None
        x, n = counts.responders, counts.assigned
        assert close(cell.response_rate, x / n)
        assert same_interval(cell.response_interval, proportion_confint(x, n, method="wilson"))
        assert close(cell.revenue_per_customer, revenue[counts.code].mean())
        assert close(cell.revenue_sd, revenue[counts.code].std(ddof=1))
        if counts.control:
            assert cell.roi is None and cell.delivered_rate is None and cell.delivery_rate is None
        else:
            assert close(cell.roi, (counts.revenue - counts.cost) / counts.cost)
            assert close(cell.delivered_rate, (counts.delivered_responders or 0) / counts.delivered)
            assert close(cell.delivery_rate, 0.9)
            assert close(cell.open_rate, counts.opened / counts.delivered)


def test_every_comparison_figure_matches_the_references(analysed: Analysed) -> None:
    results, cells, revenue = analysed
    control = next(c for c in cells if c.control)
    x2, n2 = control.responders, control.assigned
    raw_p = []
    for test in (c for c in cells if not c.control):
        found = results.comparison(test.code)
        assert found is not None and found.control == "control"
        x1, n1 = test.responders, test.assigned
        lift = x1 / n1 - x2 / n2
        newcombe = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb")
        assert close(found.absolute_lift, lift) and same_interval(
            found.absolute_lift_interval, newcombe
        )
        low, high = confint_proportions_2indep(x1, n1, x2, n2, method="log", compare="ratio")
        assert same_interval(found.relative_lift_interval, (low - 1, high - 1))
        z, p = proportions_ztest([x1, x2], [n1, n2])
        assert close(found.z, z) and close(found.p_value, p)
        raw_p.append(p)
        assert close(found.incremental_responders, lift * n1)
        assert same_interval(
            found.incremental_responders_interval, (newcombe[0] * n1, newcombe[1] * n1)
        )
        mde = (sp.norm.ppf(0.975) + sp.norm.ppf(0.8)) * math.sqrt(
            x2 / n2 * (1 - x2 / n2) * (1 / n2 + 1 / n1)
        )
        assert close(found.minimum_detectable_lift, mde)
        _check_revenue(found, test, revenue[test.code], revenue["control"])
        secondary = newcombe_interval(test.delivered_responders or 0, test.delivered, x2, n2)
        assert close(
            found.delivered_lift, (test.delivered_responders or 0) / test.delivered - x2 / n2
        )
        assert found.delivered_lift_interval == secondary
    reject, adjusted, _, _ = multipletests(raw_p, method="holm")
    assert [c.adjusted_p_value for c in results.comparisons] == pytest.approx(adjusted, rel=1e-9)
    assert [c.significant for c in results.comparisons] == list(reject)


def _check_revenue(
    found: Comparison, test: CellCounts, ours: np.ndarray, theirs: np.ndarray
) -> None:
    reference = sp.ttest_ind(ours, theirs, equal_var=False)
    per_customer = ours.mean() - theirs.mean()
    assert close(found.incremental_revenue_per_customer, per_customer)
    assert same_interval(
        found.incremental_revenue_per_customer_interval, reference.confidence_interval(0.95)
    )
    assert close(found.revenue_df, reference.df) and close(found.revenue_p_value, reference.pvalue)
    assert close(found.incremental_revenue, per_customer * test.assigned)
    assert close(found.incremental_cost, test.cost)  # the control cost nothing
    incremental = per_customer * test.assigned
    assert close(found.incremental_roi, (incremental - test.cost) / test.cost)
    low, high = reference.confidence_interval(0.95)
    roi_ends = (
        (low * test.assigned - test.cost) / test.cost,
        (high * test.assigned - test.cost) / test.cost,
    )
    assert same_interval(found.incremental_roi_interval, roi_ends)


def test_the_sample_ratio_check_covers_every_cell(analysed: Analysed) -> None:
    results, cells, _ = analysed
    observed = [c.assigned for c in cells]
    reference = sp.chisquare(observed, [c.share * sum(observed) for c in cells])
    assert results.sample_ratio is not None
    assert close(results.sample_ratio.p_value, reference.pvalue)
    assert not results.sample_ratio.mismatch  # 2000 / 6000 / 6100 / 5900 is close to plan


# --- edge cases --------------------------------------------------------------


def pair(test: tuple[int, int], control: tuple[int, int], **money: float) -> Comparison | None:
    """Compare a test cell (responders, assigned) with a control, through the campaign."""
    cells = [
        CellCounts("control", control[1], control[0], control=True, share=0.5),
        CellCounts("A", test[1], test[0], share=0.5, **money),
    ]
    return analyse_campaign(cells).comparison("A")


def test_no_responders_anywhere_gives_a_zero_lift_and_no_ratio() -> None:
    found = pair((0, 1000), (0, 1000))
    assert found is not None and found.absolute_lift == 0.0
    assert same_interval(
        found.absolute_lift_interval, confint_proportions_2indep(0, 1000, 0, 1000, method="newcomb")
    )
    assert found.absolute_lift_interval.low < 0 < found.absolute_lift_interval.high
    assert (found.z, found.p_value, found.significant) == (0.0, 1.0, False)
    assert found.relative_lift is None and found.relative_lift_interval is None
    assert found.minimum_detectable_lift is None  # a zero baseline has no variance to plan with


def test_no_responders_in_the_test_cell_is_a_lift_of_minus_100_percent() -> None:
    found = pair((0, 500), (7, 400))
    assert found is not None and found.relative_lift == -1.0
    low, high = confint_proportions_2indep(0, 500, 7, 400, method="log-adjusted", compare="ratio")
    assert same_interval(found.relative_lift_interval, (low - 1, high - 1))
    assert close(found.incremental_responders, -7 / 400 * 500)


def test_everyone_responding_in_both_cells() -> None:
    found = pair((1000, 1000), (1000, 1000))
    assert found is not None and found.absolute_lift == 0.0 and found.p_value == 1.0
    assert same_interval(
        found.absolute_lift_interval,
        confint_proportions_2indep(1000, 1000, 1000, 1000, method="newcomb"),
    )
    assert found.relative_lift == 0.0
    assert found.relative_lift_interval is not None
    assert (found.relative_lift_interval.low, found.relative_lift_interval.high) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("test", "control"), [((1, 1), (0, 1)), ((1, 2), (0, 2)), ((2, 2), (1, 2))]
)
def test_tiny_cells_still_compare(test: tuple[int, int], control: tuple[int, int]) -> None:
    # every test responder spent 10, nobody in the control spent anything
    found = pair(test, control, revenue=10.0 * test[0], revenue_squares=100.0 * test[0])
    (x1, n1), (x2, n2) = test, control
    assert found is not None
    reference = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb")
    assert same_interval(found.absolute_lift_interval, reference)
    assert close(found.p_value, proportions_ztest([x1, x2], [n1, n2])[1])
    assert close(found.incremental_revenue_per_customer, 10.0 * x1 / n1)
    interval = found.incremental_revenue_per_customer_interval
    if test == (1, 2):
        # spend (10, 0) against (0, 0): Welch's df is n_test - 1 = 1 (textbook;
        # scipy warns on the constant control)
        half = sp.t.ppf(0.975, 1) * math.sqrt(50 / 2)
        assert found.revenue_df == 1 and same_interval(interval, (5 - half, 5 + half))
    else:
        # one customer has no variance to measure; (10, 10) against (0, 0) neither
        assert interval is None and found.revenue_df is None


def test_zero_revenue_variance_leaves_the_revenue_interval_out() -> None:
    found = pair((30, 1000), (20, 1000), cost=50.0)
    assert found is not None and found.incremental_revenue_per_customer == 0.0
    assert found.incremental_revenue_per_customer_interval is None and found.revenue_df is None
    assert found.incremental_roi == -1.0 and found.incremental_roi_interval is None


def test_a_test_cell_without_a_control_is_reported_not_raised() -> None:
    cells = [CellCounts("A", 100, 3, share=0.5), CellCounts("B", 100, 5, share=0.5)]
    results = analyse_campaign(cells)
    assert results.comparisons == () and results.uncompared == ("A", "B")
    assert results.comparison("A") is None
    cell = results.cell("A")
    assert cell is not None and close(cell.response_rate, 0.03)
    assert results.sample_ratio is not None and not results.sample_ratio.mismatch


def test_cells_name_their_control_and_empty_cells_are_not_compared() -> None:
    cells = [
        CellCounts("control", 1000, 30, control=True),
        CellCounts("holdout", 1000, 10, control=True),
        CellCounts("A", 1000, 40, versus="holdout"),
        CellCounts("B", 1000, 40),  # two controls and none named: ambiguous
        CellCounts("C", 1000, 40, versus="A"),  # A is no control
        CellCounts("D", 0, 0, versus="control"),
    ]
    results = analyse_campaign(cells)
    assert [c.test for c in results.comparisons] == ["A"]
    assert results.comparisons[0].control == "holdout"
    assert results.uncompared == ("B", "C", "D")
    assert results.sample_ratio is None  # no planned shares
    empty = results.cell("D")
    assert empty is not None and empty.response_rate is None and empty.response_interval is None
    assert empty.revenue_per_customer is None


def test_holm_is_applied_across_the_test_cells() -> None:
    cells = [CellCounts("control", 5000, 150, control=True)]
    cells += [CellCounts(code, 5000, x) for code, x in [("A", 190), ("B", 160), ("C", 200)]]
    results = analyse_campaign(cells)
    raw = [c.p_value for c in results.comparisons]
    reject, adjusted, _, _ = multipletests(raw, method="holm")
    assert [c.adjusted_p_value for c in results.comparisons] == pytest.approx(adjusted, rel=1e-9)
    assert [c.significant for c in results.comparisons] == list(reject)
    a = results.comparison("A")
    assert (
        a is not None and a.p_value < 0.05 < a.adjusted_p_value
    )  # significant alone, not after Holm


def test_a_skewed_split_is_flagged() -> None:
    cells = [
        CellCounts("control", 800, 10, control=True, share=1),
        CellCounts("A", 9200, 90, share=9),
    ]
    results = analyse_campaign(cells)
    reference = sp.chisquare([800, 9200], [1000, 9000])
    assert results.sample_ratio is not None and results.sample_ratio.mismatch
    assert close(results.sample_ratio.p_value, reference.pvalue)


def test_impossible_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="more responders than assigned"):
        CellCounts("A", 10, 11)
    with pytest.raises(ValueError, match="sent is negative"):
        CellCounts("A", 10, 1, sent=-1)
    with pytest.raises(ValueError, match="share a code"):
        analyse_campaign([CellCounts("A", 10, 1), CellCounts("A", 10, 1)])
