"""Interval estimates and paired tests for the analysis queries, from scipy rather than by hand.

Guarantees:
- ``bootstrap_of_means`` is scipy.stats.bootstrap's percentile interval over the rows given
  (one row per problem), with a NumPy ``default_rng(seed)`` so the same inputs and seed give the
  same interval on every machine. Fewer than two rows give ``(None, None)``.
- Several columns are resampled *paired* (the same problems drawn for each), which is what a
  ratio of two per-problem quantities needs (cost per solved problem, cost relative to a
  reference on the same problems), and every statistic of one call sees the same draws.
- ``bootstrap_of_means_batch`` answers several such calls at once, each exactly as it would be
  answered alone (same seed, same draws), sharing the resampling among questions with the same
  number of rows.
- ``mcnemar_exact_p`` is the two-sided exact binomial test (scipy.stats.binomtest) of the
  discordant pairs against p = 0.5; no discordant pair is p = 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


MeansFunction = Callable[[np.ndarray], np.ndarray]
Interval = tuple[float | None, float | None]


@dataclass(frozen=True)
class MeansQuestion:
    """One set of intervals to estimate: k equally long per-problem columns and statistics of
    their k means (each function takes an array of shape (k, resamples))."""

    columns: Sequence[Sequence[float]]
    functions: Sequence[MeansFunction]


def bootstrap_of_means(
    columns: Sequence[Sequence[float]],
    functions: Sequence[MeansFunction],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[Interval]:
    """Percentile bootstrap intervals of statistics that are functions of column means (a mean,
    a ratio or a difference of means), all from one paired resampling of the rows (problems).

    ``columns`` are k equally long per-problem columns; each function takes the k resampled
    means (an array of shape (k, resamples)) and returns one value per resample. An interval
    end that is not finite (a ratio whose denominator resampled to 0) is None."""
    question = MeansQuestion(columns, functions)
    return bootstrap_of_means_batch([question], resamples=resamples, seed=seed, confidence=confidence)[0]


def bootstrap_of_means_batch(
    questions: Sequence[MeansQuestion],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[list[Interval]]:
    """``bootstrap_of_means`` of each question, with the same options: each answer is the one
    that question gets alone. Questions over the same number of problems n are answered by one
    scipy call, since ``default_rng(seed)`` draws the same (resamples, n) row indices for each of
    them: one draw and one count matrix per n instead of one per question (a query's ten
    configurations over the same problems cost one resampling)."""
    answers: list[list[Interval]] = [[] for _ in questions]
    by_row_count: dict[int, list[tuple[int, np.ndarray]]] = {}
    for position, question in enumerate(questions):
        if not question.functions:
            continue
        values = np.asarray(question.columns, dtype=float).reshape(len(question.columns), -1)
        if values.shape[1] < 2:
            answers[position] = [(None, None)] * len(question.functions)
            continue
        by_row_count.setdefault(values.shape[1], []).append((position, values))
    for group in by_row_count.values():
        functions: list[MeansFunction] = []
        first_column = 0
        for position, values in group:
            own_rows = slice(first_column, first_column + values.shape[0])
            functions.extend(
                (lambda means, rows=own_rows, function=function: function(means[rows]))
                for function in questions[position].functions
            )
            first_column += values.shape[0]
        intervals = _percentile_intervals(
            np.vstack([values for _, values in group]), functions, resamples, seed, confidence
        )
        for position, _ in group:
            count = len(questions[position].functions)
            answers[position], intervals = intervals[:count], intervals[count:]
    return answers


def _percentile_intervals(
    values: np.ndarray, functions: Sequence[MeansFunction], resamples: int, seed: int, confidence: float
) -> list[Interval]:
    """scipy draws the resamples (``rng.integers(0, n, (resamples, n))`` over the row indices,
    as its paired bootstrap does) and takes the quantiles; the means of all k columns under each
    resample are one matrix product of the resample's row counts, so k statistics cost one
    resampling."""
    n = values.shape[1]

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
