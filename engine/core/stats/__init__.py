"""Statistics of campaign experiments (pure, standard library only).

`analyse_campaign` turns per-cell counts (`CellCounts`) into per-cell
figures (`CellResult`), test-against-control comparisons (`Comparison`,
Holm-corrected) and a sample-ratio check. The building blocks are public
too: Wilson and Newcombe intervals, the pooled z-test, Katz's ratio
interval, Welch's t interval, Holm's correction, the minimum detectable
lift, Student t and chi-square tails. docs/statistics.md has the formulas.
"""

from engine.core.stats.cells import CellCounts, CellResult, cell_result, roi
from engine.core.stats.comparison import (
    ALPHA,
    CampaignResults,
    Comparison,
    analyse_campaign,
    compare,
)
from engine.core.stats.distributions import (
    chi_square_sf,
    incomplete_beta,
    log_beta,
    normal_two_sided_p,
    t_cdf,
    t_pdf,
    t_quantile,
    t_sf,
)
from engine.core.stats.means import Sample, Welch, welch
from engine.core.stats.multiple import holm
from engine.core.stats.proportions import (
    CONFIDENCE,
    Interval,
    ZTest,
    critical_z,
    minimum_detectable_lift,
    newcombe_interval,
    pooled_z_test,
    relative_lift,
    relative_lift_interval,
    wilson_interval,
)
from engine.core.stats.srm import SRM_ALPHA, ChiSquare, sample_ratio_check

__all__ = [
    "ALPHA",
    "CONFIDENCE",
    "SRM_ALPHA",
    "CampaignResults",
    "CellCounts",
    "CellResult",
    "ChiSquare",
    "Comparison",
    "Interval",
    "Sample",
    "Welch",
    "ZTest",
    "analyse_campaign",
    "cell_result",
    "chi_square_sf",
    "compare",
    "critical_z",
    "holm",
    "incomplete_beta",
    "log_beta",
    "minimum_detectable_lift",
    "newcombe_interval",
    "normal_two_sided_p",
    "pooled_z_test",
    "relative_lift",
    "relative_lift_interval",
    "roi",
    "sample_ratio_check",
    "t_cdf",
    "t_pdf",
    "t_quantile",
    "t_sf",
    "welch",
    "wilson_interval",
]
