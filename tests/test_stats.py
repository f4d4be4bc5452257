"""The statistics core, figure by figure, against scipy and statsmodels (to 1e-9).

Where the reference libraries fail or warn on an edge case (a zero variance,
a pooled rate of 0 or 1), the test says so and checks the textbook formula.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special
from scipy import stats as sp
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from engine.core.campaign.preview import minimum_detectable_lift as plan_mde
from engine.core.stats import (
    Interval,
    Sample,
    chi_square_sf,
    critical_z,
    holm,
    incomplete_beta,
    log_beta,
    minimum_detectable_lift,
    newcombe_interval,
    pooled_z_test,
    relative_lift,
    relative_lift_interval,
    sample_ratio_check,
    t_cdf,
    t_pdf,
    t_quantile,
    t_sf,
    welch,
    wilson_interval,
)


def close(ours: float | None, reference: float) -> bool:
    """Equal to 1e-9 relative (1e-12 absolute next to zero)."""
    return ours is not None and math.isclose(ours, float(reference), rel_tol=1e-9, abs_tol=1e-12)


def same_interval(ours: Interval | None, reference: tuple[float, float]) -> bool:
    return ours is not None and close(ours.low, reference[0]) and close(ours.high, reference[1])


# (successes, trials): ordinary, zero, all, and tiny cells
PROPORTIONS = [(30, 1000), (600, 20000), (0, 1000), (1000, 1000), (0, 1), (1, 1), (0, 2), (1, 2)]
PROPORTIONS += [(2, 2), (7, 13), (1, 50_000), (49_999, 50_000)]
# (test successes, test trials, control successes, control trials)
PAIRS = [
    (40, 1000, 30, 1000),
    (800, 20000, 600, 20000),
    (33, 9000, 4, 1000),
    (0, 1000, 0, 1000),
    (0, 500, 7, 400),
    (7, 400, 0, 500),
    (1000, 1000, 1000, 1000),
    (1000, 1000, 999, 1000),
    (0, 1, 1, 1),
    (1, 1, 0, 1),
    (1, 2, 0, 2),
    (2, 2, 1, 2),
    (1, 1, 1, 2),
]


# --- distributions -----------------------------------------------------------

DFS = [1, 1.5, 2, 3, 4.7, 10, 30.7, 99.2, 1000, 40_000, 99_999, 1e5, 1e6, 1e7, 1e9]


@pytest.mark.parametrize("df", DFS)
def test_student_t_tails_and_density_match_scipy(df: float) -> None:
    for t in [-40, -4, -1.96, -0.3, 0, 0.01, 0.5, 1, 1.7, 1.96, 2.5, 4, 8, 20]:
        assert close(t_sf(t, df), sp.t.sf(t, df)), (df, t)
        assert close(t_cdf(t, df), sp.t.cdf(t, df)), (df, t)
        assert close(t_pdf(t, df), sp.t.pdf(t, df)), (df, t)


@pytest.mark.parametrize("df", DFS)
def test_student_t_quantiles_match_scipy(df: float) -> None:
    for p in [1e-10, 0.001, 0.025, 0.1, 0.4, 0.6, 0.9, 0.95, 0.975, 0.995, 0.9999]:
        assert close(t_quantile(p, df), sp.t.ppf(p, df)), (df, p)
    assert t_quantile(0.5, df) == 0.0


def test_t_quantile_refuses_probabilities_outside_zero_one() -> None:
    with pytest.raises(ValueError, match="0 < p < 1"):
        t_quantile(1.0, 10)


def test_log_beta_and_incomplete_beta_match_scipy() -> None:
    for a, b in [(0.5, 0.5), (3, 4), (20, 0.5), (12, 30), (9.5, 0.5), (40, 40)]:
        assert close(log_beta(a, b), special.betaln(a, b)), (a, b)
        for x in [1e-6, 0.01, 0.3, 0.5, 0.77, 0.99, 1 - 1e-9]:
            assert close(incomplete_beta(a, b, x), special.betainc(a, b, x)), (a, b, x)
    assert incomplete_beta(2, 3, 0.0) == 0.0 and incomplete_beta(2, 3, 1.0) == 1.0


def test_log_beta_stays_exact_for_large_arguments() -> None:
    # scipy's betaln loses ~1e-10 here; the reference is Stirling's series
    # (lgamma(a + 1/2) - lgamma(a) ~ log(a)/2 - 1/(8a)), exact to 1e-20 at this a
    a = 2e5
    expected = math.lgamma(0.5) - (0.5 * math.log(a) - 1 / (8 * a) + 1 / (192 * a**3))
    assert log_beta(a, 0.5) == pytest.approx(expected, rel=1e-14)


def test_chi_square_tail_matches_scipy() -> None:
    for dof in [1, 2, 3, 7, 30]:
        for x in [0.0, 0.01, 0.5, 1, 3.84, 10, 50, 200]:
            assert close(chi_square_sf(x, dof), sp.chi2.sf(x, dof)), (dof, x)


# --- proportions -------------------------------------------------------------


def test_the_critical_value_is_scipys() -> None:
    assert close(critical_z(), sp.norm.isf(0.025))


@pytest.mark.parametrize(("x", "n"), PROPORTIONS)
def test_wilson_interval_matches_statsmodels(x: int, n: int) -> None:
    assert same_interval(wilson_interval(x, n), proportion_confint(x, n, method="wilson"))


def test_wilson_interval_of_an_empty_cell_is_absent() -> None:
    assert wilson_interval(0, 0) is None


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), PAIRS)
def test_newcombe_interval_matches_statsmodels(x1: int, n1: int, x2: int, n2: int) -> None:
    reference = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
    assert same_interval(newcombe_interval(x1, n1, x2, n2), reference)


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), PAIRS)
def test_relative_lift_interval_matches_statsmodels_katz_log(
    x1: int, n1: int, x2: int, n2: int
) -> None:
    ours = relative_lift_interval(x1, n1, x2, n2)
    if x2 == 0:  # no ratio over a zero control rate
        assert ours is None and relative_lift(x1, n1, x2, n2) is None
        return
    # the Katz log method on raw counts; with no test responders the log is
    # undefined and we follow statsmodels' "log-adjusted" (0.5 added)
    method = "log" if x1 > 0 else "log-adjusted"
    low, high = confint_proportions_2indep(x1, n1, x2, n2, method=method, compare="ratio")
    assert same_interval(ours, (low - 1, high - 1))
    assert close(relative_lift(x1, n1, x2, n2), (x1 / n1) / (x2 / n2) - 1)


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), PAIRS)
def test_pooled_z_test_matches_statsmodels(x1: int, n1: int, x2: int, n2: int) -> None:
    ours = pooled_z_test(x1, n1, x2, n2)
    assert ours is not None
    if x1 + x2 in (0, n1 + n2):
        # statsmodels divides 0 by 0 here (nan with a RuntimeWarning); the
        # rates are equal, so the textbook answer is z = 0, p = 1
        assert (ours.statistic, ours.p_value) == (0.0, 1.0)
        return
    z, p = proportions_ztest([x1, x2], [n1, n2])
    assert close(ours.statistic, z) and close(ours.p_value, p)


def test_tiny_p_values_keep_their_precision() -> None:
    ours = pooled_z_test(900, 20000, 600, 20000)
    assert ours is not None and ours.p_value < 1e-14
    assert close(ours.p_value, 2 * sp.norm.sf(abs(ours.statistic)))


def test_minimum_detectable_lift_matches_the_normal_formula() -> None:
    for rate, control, test in [(0.03, 20000, 20000), (0.05, 1000, 9000), (0.5, 2, 1)]:
        z = sp.norm.ppf(0.975) + sp.norm.ppf(0.8)
        expected = z * math.sqrt(rate * (1 - rate) * (1 / control + 1 / test))
        assert close(minimum_detectable_lift(rate, control, test), expected)
    assert minimum_detectable_lift(0.0, 100, 100) is None
    assert minimum_detectable_lift(1.0, 100, 100) is None
    assert plan_mde is minimum_detectable_lift  # plan uses the one formula


# --- Welch -------------------------------------------------------------------


def revenue_cents(rng: np.random.Generator, n: int, buyers: float, mean: float) -> np.ndarray:
    """Per-customer revenue in whole cents: most customers buy nothing."""
    amounts = np.rint(rng.exponential(mean, n) * 100).astype(np.int64)
    return np.where(rng.random(n) < buyers, amounts, 0)


def sample_of(values: np.ndarray) -> Sample:
    return Sample(len(values), int(values.sum()), int((values * values).sum()))


@pytest.mark.parametrize(("n1", "n2"), [(20000, 5000), (300, 3000), (2, 2), (3, 40)])
def test_welch_interval_and_p_value_match_scipy(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1 * 7 + n2)
    test, control = revenue_cents(rng, n1, 0.4, 60), revenue_cents(rng, n2, 0.3, 50)
    test[0], control[0] = 1234, 0  # tiny cells keep some variance in both
    ours = welch(sample_of(test), sample_of(control))
    reference = sp.ttest_ind(test, control, equal_var=False)
    assert ours is not None
    assert close(ours.difference, test.mean() - control.mean())
    assert close(ours.df, reference.df)
    assert close(ours.statistic, reference.statistic)
    assert close(ours.p_value, reference.pvalue)
    assert same_interval(ours.interval, reference.confidence_interval(0.95))


def test_welch_with_one_constant_cell_uses_the_other_cells_df() -> None:
    # scipy warns on constant data (catastrophic cancellation), so the
    # reference is the textbook formula with scipy's t quantile
    test = Sample(4, 1 + 2 + 3 + 10, 1 + 4 + 9 + 100)
    control = Sample(5, 10, 20)  # five customers who each spent 2
    ours = welch(test, control)
    variance = (4 * 114 - 16 * 16) / (4 * 3)
    se = math.sqrt(variance / 4)
    assert ours is not None and close(ours.df, 3)  # df = n_test - 1
    half = sp.t.ppf(0.975, 3) * se
    assert same_interval(ours.interval, (4 - 2 - half, 4 - 2 + half))
    assert close(ours.p_value, 2 * sp.t.sf(2 / se, 3))


def test_welch_is_absent_without_variance_or_with_a_single_customer() -> None:
    assert welch(Sample(100, 0, 0), Sample(100, 0, 0)) is None  # nobody bought anything
    assert welch(Sample(3, 6, 12), Sample(4, 8, 16)) is None  # everyone spent 2
    assert welch(Sample(1, 5, 25), Sample(10, 5, 25)) is None
    assert Sample(0, 0, 0).mean is None and Sample(1, 5, 25).variance is None


# --- Holm and the sample-ratio check -----------------------------------------


@pytest.mark.parametrize(
    "p_values",
    [[0.01, 0.04, 0.03, 0.5], [0.02], [0.001, 0.001, 0.2], [0.04, 0.045, 0.05], [1.0, 0.9, 1e-12]],
)
def test_holm_matches_statsmodels(p_values: list[float]) -> None:
    reject, adjusted, _, _ = multipletests(p_values, alpha=0.05, method="holm")
    ours = holm(p_values)
    assert all(close(o, r) for o, r in zip(ours, adjusted, strict=True))
    assert [p <= 0.05 for p in ours] == list(reject)


def test_sample_ratio_check_matches_scipy() -> None:
    observed, shares = [1060, 4470, 4470], [0.1, 0.45, 0.45]
    reference = sp.chisquare(observed, [s * sum(observed) for s in shares])
    ours = sample_ratio_check(observed, shares)
    assert ours is not None and ours.dof == 2
    assert close(ours.statistic, reference.statistic) and close(ours.p_value, reference.pvalue)
