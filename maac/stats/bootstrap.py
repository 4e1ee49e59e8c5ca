"""Bootstrap intervals over test clips and training seeds, paired tests, Holm's correction.

A system is one ``ClipMetric`` per training seed, all on the same test clips. Its estimate is
the mean over seeds of the corpus metric. One resample draws the seeds with replacement and,
independently, the clips with replacement; the same clip draw serves every drawn seed, since
every seed was scored on the same test set (a crossed design: test-set noise is shared, not
averaged away). With one seed this is the ordinary bootstrap over clips (Efron & Tibshirani
1993). The same resamples serve every system of a table, so differences are paired by clip and
by seed. Intervals are percentile intervals. The p-value of a difference d is two-sided, from
the bootstrap distribution shifted to the null: p = (1 + #{|d* - d| >= |d|}) / (B + 1), so the
smallest attainable p is 1 / (B + 1). See docs/statistics.md.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from maac.stats.clip_metrics import ClipMetric

RESAMPLES = 2000
SEED = 0
LEVEL = 0.95
ALPHA = 0.05


@dataclass(frozen=True)
class Resamples:
    """``clip_weights[b, i]``: draws of clip i in resample b; ``seed_draws[b]``: seed indices."""

    clip_weights: np.ndarray  # (B, clips)
    seed_draws: np.ndarray  # (B, seeds)

    @property
    def count(self) -> int:
        return int(self.clip_weights.shape[0])


def draw(clips: int, seeds: int, resamples: int = RESAMPLES, seed: int = SEED) -> Resamples:
    """Seeded resamples of ``clips`` test clips and ``seeds`` training seeds."""
    if clips < 1 or seeds < 1 or resamples < 1:
        raise ValueError(f"cannot resample {clips} clips and {seeds} seeds {resamples} times")
    rng = np.random.Generator(np.random.PCG64(seed))
    picks = rng.integers(0, clips, size=(resamples, clips))
    weights = np.zeros((resamples, clips), dtype=np.int64)
    np.add.at(weights, (np.arange(resamples)[:, None], picks), 1)
    seed_draws = rng.integers(0, seeds, size=(resamples, seeds))
    return Resamples(weights, seed_draws)


def estimate(system: Sequence[ClipMetric]) -> float:
    """The mean over seeds of the corpus metric."""
    return statistics.fmean(m.full() for m in system)


def replicates(system: Sequence[ClipMetric], resamples: Resamples) -> np.ndarray:
    """The estimate on every resample (B,)."""
    if len(system) != resamples.seed_draws.shape[1]:
        raise ValueError(f"{len(system)} seeds, resamples drawn for "
                         f"{resamples.seed_draws.shape[1]}")
    values = np.stack([m.weighted(resamples.clip_weights) for m in system])  # (seeds, B)
    return values[resamples.seed_draws, np.arange(resamples.count)[:, None]].mean(axis=1)


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    seeds: int
    clips: int


def interval(system: Sequence[ClipMetric], resamples: Resamples,
             level: float = LEVEL) -> Interval:
    """The estimate and its percentile interval over clips (and seeds, when several)."""
    low, high = _percentiles(replicates(system, resamples), level)
    return Interval(estimate(system), low, high, len(system),
                    int(resamples.clip_weights.shape[1]))


@dataclass(frozen=True)
class Difference:
    """a - b, its interval, and the two-sided bootstrap p-value of a - b = 0."""

    difference: float
    low: float
    high: float
    p: float


def compare(a: Sequence[ClipMetric], b: Sequence[ClipMetric], resamples: Resamples,
            level: float = LEVEL) -> Difference:
    """Paired difference of two systems scored on the same clips with the same seeds."""
    d = estimate(a) - estimate(b)
    diffs = replicates(a, resamples) - replicates(b, resamples)
    low, high = _percentiles(diffs, level)
    extreme = int(np.count_nonzero(np.abs(diffs - d) >= abs(d)))
    return Difference(d, low, high, (1 + extreme) / (1 + resamples.count))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error over the comparisons)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def format_p(p: float) -> str:
    return f"{p:.2f}" if p >= 0.01 else f"{p:.1g}"


def verdict(difference: float, p_adjusted: float, alpha: float = ALPHA) -> str:
    """``better`` / ``worse`` (a vs b, higher is better) when the adjusted p is below alpha."""
    if p_adjusted < alpha and difference != 0:
        return "better" if difference > 0 else "worse"
    return f"no significant difference (p = {format_p(p_adjusted)})"
