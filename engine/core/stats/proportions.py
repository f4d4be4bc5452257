"""Intervals and tests for response rates (proportions of assigned customers).

Every function takes counts and returns plain numbers or an `Interval`;
None stands for "not defined for these counts" (an empty cell, a ratio over
a zero rate), never for an error. The methods, with references, are written
up in docs/statistics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from engine.core.stats.distributions import normal_two_sided_p

CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Interval:
    """A two-sided confidence interval [low, high] at `level` (0.95 = 95%)."""

    low: float
    high: float
    level: float = CONFIDENCE

    def scaled(self, factor: float, shift: float = 0.0) -> Interval:
        """The interval of factor * x + shift (factor >= 0)."""
        return Interval(self.low * factor + shift, self.high * factor + shift, self.level)

    def covers(self, value: float) -> bool:
        """True when `value` lies inside the interval (ends included)."""
        return self.low <= value <= self.high


@dataclass(frozen=True, slots=True)
class ZTest:
    """The pooled two-proportion z statistic and its two-sided p-value."""

    statistic: float
    p_value: float


def critical_z(level: float = CONFIDENCE) -> float:
    """The normal quantile z(1 - alpha/2) of a two-sided interval at `level`."""
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson_interval(successes: int, trials: int, level: float = CONFIDENCE) -> Interval | None:
    """The Wilson (1927) score interval for successes / trials; None when trials is 0.

    ``(x + z²/2) / (n + z²) ± z / (n + z²) * sqrt(x (n - x) / n + z²/4)``,
    clipped to [0, 1] against rounding (at x = 0 the low end is 0 exactly).
    """
    if trials <= 0:
        return None
    z = critical_z(level)
    z2 = z * z
    centre = (successes + z2 / 2) / (trials + z2)
    half = z / (trials + z2) * math.sqrt(successes * (trials - successes) / trials + z2 / 4)
    return Interval(max(0.0, centre - half), min(1.0, centre + half), level)


def newcombe_interval(
    test_successes: int,
    test_trials: int,
    control_successes: int,
    control_trials: int,
    level: float = CONFIDENCE,
) -> Interval | None:
    """Newcombe's (1998) hybrid score interval for p_test - p_control (his method 10).

    From the Wilson intervals (l1, u1) of the test rate p1 and (l2, u2) of
    the control rate p2: ``d - sqrt((p1 - l1)² + (u2 - p2)²)`` to
    ``d + sqrt((u1 - p1)² + (p2 - l2)²)`` with d = p1 - p2. None when a
    cell is empty.
    """
    test = wilson_interval(test_successes, test_trials, level)
    control = wilson_interval(control_successes, control_trials, level)
    if test is None or control is None:
        return None
    p1, p2 = test_successes / test_trials, control_successes / control_trials
    below = math.hypot(p1 - test.low, control.high - p2)
    above = math.hypot(test.high - p1, p2 - control.low)
    return Interval(p1 - p2 - below, p1 - p2 + above, level)


def relative_lift(
    test_successes: int, test_trials: int, control_successes: int, control_trials: int
) -> float | None:
    """p_test / p_control - 1; None when a cell is empty or the control rate is 0."""
    if test_trials <= 0 or control_trials <= 0 or control_successes <= 0:
        return None
    return (test_successes / test_trials) / (control_successes / control_trials) - 1


def relative_lift_interval(
    test_successes: int,
    test_trials: int,
    control_successes: int,
    control_trials: int,
    level: float = CONFIDENCE,
) -> Interval | None:
    """Katz's log interval for the rate ratio, minus 1 (an interval for the relative lift).

    ``exp(log(p1/p2) ± z sqrt(1/x1 - 1/n1 + 1/x2 - 1/n2)) - 1``. The log of
    a zero count is undefined, so when the test cell has no responders (and
    the control has some) 0.5 is added to both counts and both sizes, as
    statsmodels' "log-adjusted" method does; the point estimate stays -1.
    None when a cell is empty or the control has no responders (no ratio).
    """
    if test_trials <= 0 or control_trials <= 0 or control_successes <= 0:
        return None
    half = 0.5 if test_successes == 0 else 0.0
    x1, n1 = test_successes + half, test_trials + half
    x2, n2 = control_successes + half, control_trials + half
    spread = critical_z(level) * math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    log_ratio = math.log((x1 / n1) / (x2 / n2))
    return Interval(math.exp(log_ratio - spread) - 1, math.exp(log_ratio + spread) - 1, level)


def pooled_z_test(
    test_successes: int, test_trials: int, control_successes: int, control_trials: int
) -> ZTest | None:
    """The two-sided pooled two-proportion z-test of p_test = p_control.

    ``z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2))`` with the pooled rate
    p = (x1 + x2) / (n1 + n2); p-value P(|Z| >= |z|). When p is 0 or 1 both
    rates are equal and the variance is 0: z = 0 and the p-value is 1 (no
    evidence of a difference). None when a cell is empty.
    """
    if test_trials <= 0 or control_trials <= 0:
        return None
    pooled = (test_successes + control_successes) / (test_trials + control_trials)
    variance = pooled * (1 - pooled) * (1 / test_trials + 1 / control_trials)
    if variance <= 0:
        return ZTest(0.0, 1.0)
    z = (test_successes / test_trials - control_successes / control_trials) / math.sqrt(variance)
    return ZTest(z, normal_two_sided_p(z))


def minimum_detectable_lift(
    rate: float, control: int, test: int, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """Smallest absolute lift in response rate a two-sided z-test would detect.

    Normal approximation with the baseline variance in both groups:
    ``(z(1 - alpha/2) + z(power)) * sqrt(p (1 - p) (1/n_control + 1/n_test))``.
    None when a group is empty or the baseline is 0 or 1.
    """
    if control <= 0 or test <= 0 or not 0 < rate < 1:
        return None
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return z * math.sqrt(rate * (1 - rate) * (1 / control + 1 / test))
