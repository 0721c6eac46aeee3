"""Interval estimates and paired tests for the analysis queries, from scipy rather than by hand.

Guarantees:
- ``bootstrap_of_means`` is scipy.stats.bootstrap's percentile interval over the rows given
  (one row per problem), with a NumPy ``default_rng(seed)`` so the same inputs and seed give the
  same interval on every machine. Fewer than two rows give ``(None, None)``.
- Several columns are resampled *paired* (the same problems drawn for each), which is what a
  ratio of two per-problem quantities needs (cost per solved problem, cost relative to a
  reference on the same problems), and every statistic of one call sees the same draws.
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


MeansFunction = Callable[[np.ndarray], np.ndarray]


def bootstrap_of_means(
    columns: Sequence[Sequence[float]],
    functions: Sequence[MeansFunction],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[tuple[float | None, float | None]]:
    """Percentile bootstrap intervals of statistics that are functions of column means (a mean,
    a ratio or a difference of means), all from one paired resampling of the rows (problems).

    ``columns`` are k equally long per-problem columns; each function takes the k resampled
    means (an array of shape (k, resamples)) and returns one value per resample. scipy draws
    the resamples (``rng.integers(0, n, (resamples, n))`` over the row indices, as its paired
    bootstrap does) and takes the quantiles; the means of all k columns under each resample are
    one matrix product of the resample's row counts, so k statistics cost one resampling.
    An interval end that is not finite (a ratio whose denominator resampled to 0) is None."""
    values = np.asarray(columns, dtype=float).reshape(len(columns), -1)
    n = values.shape[1]
    if not functions:
        return []
    if n < 2:
        return [(None, None)] * len(functions)

    def statistic(index: np.ndarray, axis: int = -1) -> np.ndarray:
        index = np.atleast_2d(index)
        draws = index.shape[0]
        offsets = (index + n * np.arange(draws)[:, None]).ravel()
        counts = np.bincount(offsets, minlength=draws * n).reshape(draws, n)
        means = (counts @ values.T).T / n
        return np.stack([function(means) for function in functions])

    with np.errstate(divide="ignore", invalid="ignore"):
        result = stats.bootstrap(
            (np.arange(n),),
            statistic,
            n_resamples=int(resamples),
            vectorized=True,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(int(seed)),
        )
    lows = np.atleast_1d(result.confidence_interval.low)
    highs = np.atleast_1d(result.confidence_interval.high)
    return [(_finite(low), _finite(high)) for low, high in zip(lows, highs)]


def mean_of(column: int) -> MeansFunction:
    return lambda means: means[column]


def ratio_of(numerator: int, denominator: int) -> MeansFunction:
    return lambda means: means[numerator] / means[denominator]


def difference_of(after: int, before: int) -> MeansFunction:
    return lambda means: means[after] - means[before]


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the two discordant counts."""
    discordant = int(only_a) + int(only_b)
    if discordant == 0:
        return 1.0
    return float(stats.binomtest(int(only_a), discordant, 0.5, alternative="two-sided").pvalue)
