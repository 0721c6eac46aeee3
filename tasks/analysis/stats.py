"""Interval estimates and paired tests for the analysis queries, from scipy rather than by hand.

Guarantees:
- ``bootstrap_interval`` is scipy.stats.bootstrap's percentile interval over the rows given (one
  row per problem), with a NumPy ``default_rng(seed)`` so the same inputs and seed give the same
  interval on every machine. Fewer than two rows, or a statistic that is the same on every row,
  give ``(None, None)``-free answers: n < 2 is ``(None, None)``; a constant sample is
  ``(value, value)``.
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


def bootstrap_interval(
    samples: Sequence[Sequence[float]],
    statistic: Callable[..., np.ndarray],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of ``statistic(*samples, axis=-1)``, samples paired.

    ``statistic`` must be vectorised over the last axis (``np.mean`` works as is)."""
    arrays = [np.asarray(sample, dtype=float) for sample in samples]
    if not arrays or len(arrays[0]) < 2:
        return None, None
    if all(np.all(array == array[0]) for array in arrays):
        value = statistic(*arrays, axis=-1)
        return _finite(value), _finite(value)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = stats.bootstrap(
            tuple(arrays),
            statistic,
            n_resamples=int(resamples),
            paired=len(arrays) > 1,
            vectorized=True,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(int(seed)),
        )
    return _finite(result.confidence_interval.low), _finite(result.confidence_interval.high)


def mean_interval(values: Sequence[float], **options) -> tuple[float | None, float | None]:
    return bootstrap_interval([values], np.mean, **options)


def ratio_of_means(numerator: np.ndarray, denominator: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(numerator, axis=axis) / np.mean(denominator, axis=axis)


def ratio_interval(
    numerator: Sequence[float], denominator: Sequence[float], **options
) -> tuple[float | None, float | None]:
    """Interval of mean(numerator) / mean(denominator), problems resampled jointly."""
    return bootstrap_interval([numerator, denominator], ratio_of_means, **options)


def difference_of_means(after: np.ndarray, before: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(after, axis=axis) - np.mean(before, axis=axis)


def difference_interval(
    after: Sequence[float], before: Sequence[float], **options
) -> tuple[float | None, float | None]:
    """Interval of mean(after) - mean(before) over the same problems, resampled jointly."""
    return bootstrap_interval([after, before], difference_of_means, **options)


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the two discordant counts."""
    discordant = int(only_a) + int(only_b)
    if discordant == 0:
        return 1.0
    return float(stats.binomtest(int(only_a), discordant, 0.5, alternative="two-sided").pvalue)
