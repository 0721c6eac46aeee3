"""The batched bootstrap answers every question exactly as it is answered alone, and both agree
with a plain NumPy bootstrap written here (the draws scipy makes: ``integers(0, n, (B, n))``
from ``default_rng(seed)``, then linear quantiles)."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.analysis import stats


def gathered_interval(columns, statistic, resamples, seed, confidence=0.95):
    arrays = [np.asarray(column, dtype=float) for column in columns]
    n = len(arrays[0])
    index = np.random.default_rng(seed).integers(0, n, (resamples, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        values = statistic(*[array[index].mean(axis=1) for array in arrays])
    alpha = (1 - confidence) / 2
    return tuple(float(v) for v in np.quantile(values, [alpha, 1 - alpha]))


@pytest.fixture
def questions():
    rng = np.random.default_rng(7)
    same_n = [
        (rng.random(40), (rng.random(40) < 0.6).astype(float)),
        (rng.random(40) * 3, (rng.random(40) < 0.3).astype(float)),
    ]
    other_n = (rng.random(25), rng.random(25) + 0.5)
    asked = [
        stats.MeansQuestion(list(same_n[0]), [stats.mean_of(0), stats.ratio_of(0, 1)]),
        stats.MeansQuestion(list(same_n[1]), [stats.mean_of(1), stats.difference_of(0, 1)]),
        stats.MeansQuestion(list(other_n), [stats.ratio_of(0, 1)]),
        stats.MeansQuestion([[1.0]], [stats.mean_of(0)]),  # one problem: no interval
        stats.MeansQuestion([[1.0, 2.0]], []),  # nothing asked
    ]
    expected = [
        [("mean", [same_n[0][0]]), ("ratio", list(same_n[0]))],
        [("mean", [same_n[1][1]]), ("difference", list(same_n[1]))],
        [("ratio", list(other_n))],
    ]
    return asked, expected


STATISTICS = {
    "mean": lambda a: a,
    "ratio": lambda a, b: a / b,
    "difference": lambda a, b: a - b,
}


@pytest.mark.parametrize("resamples, seed", [(1000, 0), (300, 5)])
def test_batch_equals_each_question_alone_and_a_plain_numpy_bootstrap(questions, resamples, seed):
    asked, expected = questions
    options = {"resamples": resamples, "seed": seed}
    batch = stats.bootstrap_of_means_batch(asked, **options)
    alone = [stats.bootstrap_of_means(q.columns, q.functions, **options) for q in asked]
    assert len(batch) == len(alone) == len(asked)
    for together, single in zip(batch, alone):
        assert len(together) == len(single)
        for pair, single_pair in zip(together, single):
            assert pair == single_pair or pair == pytest.approx(single_pair, rel=1e-12)
    assert batch[3] == [(None, None)] and batch[4] == []
    for answers, wanted in zip(batch, expected):
        assert len(answers) == len(wanted)
        for (low, high), (kind, columns) in zip(answers, wanted):
            assert (low, high) == pytest.approx(
                gathered_interval(columns, STATISTICS[kind], resamples, seed), rel=1e-9)
            assert low < high


def test_a_different_seed_moves_the_interval(questions):
    asked, _ = questions
    first = stats.bootstrap_of_means_batch(asked[:1], seed=0)[0]
    second = stats.bootstrap_of_means_batch(asked[:1], seed=1)[0]
    assert first != second
