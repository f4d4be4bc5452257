"""Holm's step-down correction for testing several test cells against controls."""

from __future__ import annotations

from collections.abc import Sequence


def holm(p_values: Sequence[float]) -> tuple[float, ...]:
    """Holm (1979) adjusted p-values, in the order given.

    Sorted ascending, the k-th smallest (k from 1) of m becomes
    ``max over j <= k of min(1, (m - j + 1) p_(j))``; a hypothesis is
    rejected at level alpha when its adjusted p-value is <= alpha, which
    keeps the chance of any false "significant" at most alpha across all m.
    One p-value is returned unchanged.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return tuple(adjusted)
