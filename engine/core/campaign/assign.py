"""Deterministic assignment to cells (ARCHITECTURE invariant 4).

hash(campaign key, salt, customer id) -> bucket in [0, 10000) -> the cell whose
cumulative share covers the bucket. The hash is three rounds of integer
arithmetic modulo the prime 2^31 - 1 (affine, fifth power, affine; each a
bijection, as 5 does not divide 2^31 - 2, so no two customers are tied
together), which SQLite, PostgreSQL and Python compute identically: a
million customers are assigned by one INSERT .. SELECT, and a test can
recompute any of them here.

The salt is derived from the groups (control share, cell codes and shares,
stratification): the same file always gives every customer the same cell,
and a change of cells or shares is a new salt, which `plan` announces.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from engine.core.campaign.spec import CampaignSpec

PRIME: Final = 2_147_483_647
BUCKETS: Final = 10_000
CONTROL: Final = "control"


def groups_salt(spec: CampaignSpec) -> str:
    """A short digest of everything that decides who lands in which cell."""
    groups = spec.groups
    shape = {
        "control": str(groups.control),
        "cells": [[code, str(cell.share)] for code, cell in groups.cells.items()],
        "stratify_by": groups.stratify_by,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Hasher:
    """Five constants below 2^31, derived from the campaign key and salt."""

    a: int
    b: int
    c: int
    d: int
    e: int

    @classmethod
    def for_campaign(cls, key: str, salt: str) -> Hasher:
        digest = hashlib.sha256(f"{key}\0{salt}".encode()).digest()
        parts = [int.from_bytes(digest[i : i + 4], "big") % PRIME for i in range(0, 20, 4)]
        return cls(parts[0] or 1, parts[1], parts[2], parts[3] or 1, parts[4])

    def bucket(self, customer_id: int) -> int:
        h = (customer_id % PRIME * self.a + self.b) % PRIME
        h2 = h * h % PRIME
        h = (h2 * h2 % PRIME * h + self.c) % PRIME
        return (h * self.d + self.e) % PRIME % BUCKETS


@dataclass(frozen=True, slots=True)
class Split:
    """Cells in order (control first) with their cumulative upper bucket bounds."""

    codes: tuple[str, ...]
    bounds: tuple[int, ...]  # exclusive upper bound in buckets; the last is 10000

    @classmethod
    def of(cls, spec: CampaignSpec) -> Split:
        codes = (CONTROL, *spec.groups.cells)
        shares = (spec.groups.control, *(cell.share for cell in spec.groups.cells.values()))
        bounds, total = [], Decimal(0)
        for share in shares:
            total += share
            bounds.append(round(total * BUCKETS))
        return cls(codes, tuple(bounds))

    def cell(self, bucket: int) -> str:
        """The cell of a bucket in [0, 10000)."""
        return next(
            code for code, bound in zip(self.codes, self.bounds, strict=True) if bucket < bound
        )

    def shares(self) -> tuple[float, ...]:
        lower = (0, *self.bounds[:-1])
        return tuple((hi - lo) / BUCKETS for lo, hi in zip(lower, self.bounds, strict=True))


@dataclass(frozen=True, slots=True)
class SplitRule:
    """How eligible customers are cut into cells: the hash, the bounds, the strata."""

    hasher: Hasher
    bounds: tuple[tuple[int, str], ...]  # (upper bucket bound, cell code), control first
    stratify_by: str | None


def split_rule(spec: CampaignSpec) -> SplitRule:
    """The campaign's split (its key and groups decide everything)."""
    split = Split.of(spec)
    return SplitRule(
        Hasher.for_campaign(spec.key, groups_salt(spec)),
        tuple(zip(split.bounds, split.codes, strict=True)),
        spec.groups.stratify_by,
    )
