"""Interval estimates and paired tests for the analysis queries, from scipy rather than by hand.

Guarantees:
- ``bootstrap_intervals`` is scipy.stats.bootstrap's percentile interval over the rows given
  (one row per problem), with a NumPy ``default_rng(seed)`` so the same inputs and seed give the
  same interval on every machine. Fewer than two rows give ``(None, None)``.
- Several arrays are resampled *paired* (the same problems drawn for each), which is what a
  ratio of two per-problem quantities needs (cost per solved problem, cost relative to a
  reference on the same problems).
- ``mcnemar_exact_p`` is the two-sided exact binomial test (scipy.stats.binomtest) of the
  discordant pairs against p = 0.5; no discordant pair is p = 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def bootstrap_intervals(
    samples: Sequence[Sequence[float]],
    statistics: Sequence[Callable[..., np.ndarray]],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[tuple[float | None, float | None]]:
    """Percentile bootstrap intervals of each ``statistic(*samples, axis=-1)``, from one set of
    paired draws (so k statistics cost one resampling, and each interval is exactly the one a
    separate call with the same seed would give).

    Each statistic must be vectorised over the last axis (``np.mean`` works as is). An interval
    end that is not finite (a ratio whose denominator resampled to 0) is None."""
    arrays = [np.asarray(sample, dtype=float) for sample in samples]
    if not statistics:
        return []
    if not arrays or len(arrays[0]) < 2:
        return [(None, None)] * len(statistics)

    def stacked(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.stack([statistic(*resampled, axis=axis) for statistic in statistics])

    with np.errstate(divide="ignore", invalid="ignore"):
        result = stats.bootstrap(
            tuple(arrays),
            stacked,
            n_resamples=int(resamples),
            paired=len(arrays) > 1,
            vectorized=True,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(int(seed)),
        )
    lows = np.atleast_1d(result.confidence_interval.low)
    highs = np.atleast_1d(result.confidence_interval.high)
    return [(_finite(low), _finite(high)) for low, high in zip(lows, highs)]


def bootstrap_interval(
    samples: Sequence[Sequence[float]], statistic: Callable[..., np.ndarray], **options
) -> tuple[float | None, float | None]:
    return bootstrap_intervals(samples, [statistic], **options)[0]


def ratio_of_means(numerator: np.ndarray, denominator: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(numerator, axis=axis) / np.mean(denominator, axis=axis)


def column_statistic(function: Callable[..., np.ndarray], *columns: int) -> Callable[..., np.ndarray]:
    """``function`` applied to some of the resampled arrays (by position), for
    ``bootstrap_intervals`` over several columns at once."""

    def statistic(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        return function(*(resampled[index] for index in columns), axis=axis)

    return statistic


def difference_of_means(after: np.ndarray, before: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(after, axis=axis) - np.mean(before, axis=axis)


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the two discordant counts."""
    discordant = int(only_a) + int(only_b)
    if discordant == 0:
        return 1.0
    return float(stats.binomtest(int(only_a), discordant, 0.5, alternative="two-sided").pvalue)
