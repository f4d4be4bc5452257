"""Statistics for experiments (pure; checked against scipy in the tests of later issues)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

SRM_ALPHA = 0.001  # a sample-ratio mismatch is flagged below this p-value


@dataclass(frozen=True, slots=True)
class ChiSquare:
    statistic: float
    dof: int
    p_value: float

    @property
    def mismatch(self) -> bool:
        """True when the observed split is very unlikely under the planned shares."""
        return self.p_value < SRM_ALPHA


def sample_ratio_check(observed: Sequence[int], shares: Sequence[float]) -> ChiSquare | None:
    """Pearson's chi-square of observed cell sizes against planned shares.

    None when there is nothing to test (fewer than two cells with a share, or
    nobody assigned).
    """
    total = sum(observed)
    pairs = [(o, s * total) for o, s in zip(observed, shares, strict=True) if s > 0]
    if total == 0 or len(pairs) < 2:
        return None
    statistic = sum((o - e) ** 2 / e for o, e in pairs)
    dof = len(pairs) - 1
    return ChiSquare(statistic, dof, chi_square_sf(statistic, dof))


def chi_square_sf(x: float, dof: int) -> float:
    """P(X >= x) for a chi-square variable with `dof` degrees of freedom."""
    if x <= 0:
        return 1.0
    return _upper_gamma(dof / 2, x / 2)


def _upper_gamma(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x): series below a + 1, else a continued fraction."""
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1 / a
        n = a
        while abs(term) > abs(total) * 1e-16:
            n += 1
            term *= x / n
            total += term
        return max(0.0, 1 - total * math.exp(log_prefix))
    # Lentz's method for the continued fraction of Q
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return math.exp(log_prefix) * h
