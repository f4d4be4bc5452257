"""Differences of means from sums: Welch's t interval and test for revenue per customer.

Inputs are per-cell sums over every assigned customer (those who bought
nothing count as 0), so the service layer never has to ship one row per
customer to the core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.core.stats.distributions import t_quantile, t_sf
from engine.core.stats.proportions import CONFIDENCE, Interval


@dataclass(frozen=True, slots=True)
class Sample:
    """n values summarised by their total and the total of their squares."""

    n: int
    total: float
    squares: float

    @property
    def mean(self) -> float | None:
        """The sample mean; None when empty."""
        return self.total / self.n if self.n > 0 else None

    @property
    def variance(self) -> float | None:
        """The unbiased sample variance; None below two values.

        ``(n Σx² - (Σx)²) / (n (n - 1))``: exact when the sums are integers
        (pass cents), and clamped at 0 against rounding with floats.
        """
        if self.n < 2:
            return None
        return max(0.0, (self.n * self.squares - self.total * self.total) / (self.n * (self.n - 1)))


@dataclass(frozen=True, slots=True)
class Welch:
    """Welch's comparison of two means: difference, its standard error, df, interval, p-value."""

    difference: float
    standard_error: float
    df: float
    interval: Interval
    statistic: float
    p_value: float


def welch(test: Sample, control: Sample, level: float = CONFIDENCE) -> Welch | None:
    """Welch's (1947) t interval and two-sided test for mean_test - mean_control.

    ``se² = s1²/n1 + s2²/n2``; Welch–Satterthwaite degrees of freedom
    ``se⁴ / ((s1²/n1)²/(n1-1) + (s2²/n2)²/(n2-1))``; the interval is
    ``d ± t(1 - alpha/2, df) se``. None when a cell has fewer than two
    customers, or when both cells have zero variance (se = 0: the data give
    no measure of uncertainty, and the df is 0/0).
    """
    v1, v2 = test.variance, control.variance
    if v1 is None or v2 is None or (v1 == 0 and v2 == 0):
        return None
    m1, m2 = test.total / test.n, control.total / control.n
    w1, w2 = v1 / test.n, v2 / control.n
    se = math.sqrt(w1 + w2)
    df = (w1 + w2) ** 2 / (w1 * w1 / (test.n - 1) + w2 * w2 / (control.n - 1))
    half = t_quantile(0.5 + level / 2, df) * se
    difference = m1 - m2
    statistic = difference / se
    p_value = 2 * t_sf(abs(statistic), df)
    return Welch(
        difference,
        se,
        df,
        Interval(difference - half, difference + half, level),
        statistic,
        p_value,
    )
