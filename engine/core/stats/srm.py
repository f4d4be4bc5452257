"""The sample-ratio-mismatch check: did assignment split the audience as planned?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.core.stats.distributions import chi_square_sf

SRM_ALPHA = 0.001  # a sample-ratio mismatch is flagged below this p-value


@dataclass(frozen=True, slots=True)
class ChiSquare:
    """Pearson's chi-square statistic, its degrees of freedom and p-value."""

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
