"""Named analysis queries: ``queries/<name>.sql`` plus, for some, a Python step that adds the
statistics a library computes better than SQL (bootstrap intervals, exact binomial tests).

Guarantees:
- The SQL file stays the question: it selects every row and every column of the answer except
  the ones named in ``POST_STEPS[name].adds``, plus inputs for those (columns whose names start
  with ``_``: per-problem lists and the statistic's parameters, cast and defaulted in the SQL).
- ``run_named`` returns exactly the header's ``Columns``, in that order; the ``_`` inputs never
  leave it. A query without a post-step is returned as the SQL gave it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from tasks.analysis import stats
from tasks.storage import QueryError, run_query
from tasks.storage.views import parse_header, query_path


@dataclass(frozen=True)
class PostStep:
    adds: tuple[tuple[str, pa.DataType], ...]  # (column, type) the step computes
    compute: Callable[[list[dict[str, Any]]], dict[str, list[Any]]]


def _options(row: Mapping[str, Any]) -> dict[str, Any]:
    """The bootstrap's options: parameters the SQL selects as constants, so every row has them."""
    return {
        "resamples": row["_resamples"],
        "seed": row["_bootstrap_seed"],
        "confidence": row["_confidence"],
    }


def _check_options(rows: list[dict[str, Any]]) -> None:
    for row in rows[:1]:
        if row["_resamples"] < 1:
            raise QueryError(f"$resamples {row['_resamples']}: expected a positive integer")
        if not 0 < row["_confidence"] < 1:
            raise QueryError(f"$confidence {row['_confidence']}: expected a number in (0, 1)")


def _comparison_questions(row: Mapping[str, Any]) -> list[tuple[list[str], stats.MeansQuestion]]:
    """A configuration's five intervals as (interval names, question): one paired resampling of
    its problems, or two when the reference covers other problems than the configuration."""
    problems = row["_problems"]
    shared = [p for p in problems if p["reference_cost_usd"] is not None]
    own = {"pass": [p["pass_rate"] for p in problems], "cost": [p["cost_usd"] for p in problems]}
    own_wanted = [("pass_at_1", "mean", ("pass",)), ("mean_cost_usd", "mean", ("cost",))]
    if row["cost_per_solved_usd"] is not None:
        own_wanted.append(("cost_per_solved_usd", "ratio", ("cost", "pass")))
    relative = {"shared_cost": [p["cost_usd"] for p in shared],
                "reference_cost": [p["reference_cost_usd"] for p in shared]}
    relative_wanted = []
    if row["cost_relative_to_reference"] is not None:
        relative_wanted.append(("cost_relative", "ratio", ("shared_cost", "reference_cost")))
    if row["weighted_cost_relative_to_reference"] is not None:
        relative["shared_weighted"] = [p["weighted_tokens"] for p in shared]
        relative["reference_weighted"] = [p["reference_weighted_tokens"] for p in shared]
        relative_wanted.append(("weighted_relative", "ratio", ("shared_weighted", "reference_weighted")))
    groups = [(own, own_wanted), (relative, relative_wanted)]
    if len(shared) == len(problems):  # the same problems: one resampling for all five
        groups = [({**own, **relative}, own_wanted + relative_wanted)]
    questions = []
    for columns, wanted in groups:
        if not wanted:
            continue
        names = list(columns)
        functions = [
            stats.mean_of(names.index(used[0])) if kind == "mean"
            else stats.ratio_of(names.index(used[0]), names.index(used[1]))
            for _, kind, used in wanted
        ]
        question = stats.MeansQuestion([columns[name] for name in names], functions)
        questions.append(([prefix for prefix, _, _ in wanted], question))
    return questions


def _policy_comparison(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Five intervals per configuration; configurations over as many problems share one
    resampling (``stats.bootstrap_of_means_batch``), each answered as it would be alone."""
    _check_options(rows)
    out: dict[str, list[Any]] = {name: [None] * len(rows) for name, _ in POST_STEPS["policy_comparison"].adds}
    asked = [(position, prefixes, question)
             for position, row in enumerate(rows)
             for prefixes, question in _comparison_questions(row)]
    answers = stats.bootstrap_of_means_batch([question for _, _, question in asked], **_options(rows[0]))
    for (position, prefixes, _), intervals in zip(asked, answers):
        for prefix, (low, high) in zip(prefixes, intervals):
            out[f"{prefix}_low"][position] = low
            out[f"{prefix}_high"][position] = high
    return out


def _paired(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {"mcnemar_p": [stats.mcnemar_exact_p(row["only_a"], row["only_b"]) for row in rows]}


def _run_diff(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    _check_options(rows)
    out: dict[str, list[Any]] = {name: [] for name, _ in POST_STEPS["run_diff"].adds}
    questions = []
    for row in rows:
        problems = row["_problems"]
        columns = [[p[key] for p in problems]
                   for key in ("pass_rate_b", "pass_rate_a", "cost_usd_b", "cost_usd_a")]
        questions.append(
            stats.MeansQuestion(columns, [stats.difference_of(0, 1), stats.difference_of(2, 3)])
        )
    answers = stats.bootstrap_of_means_batch(questions, **_options(rows[0]))
    for row, ((pass_low, pass_high), (cost_low, cost_high)) in zip(rows, answers):
        out["pass_at_1_change_low"].append(pass_low)
        out["pass_at_1_change_high"].append(pass_high)
        out["mean_cost_change_low"].append(cost_low)
        out["mean_cost_change_high"].append(cost_high)
        out["mcnemar_p"].append(stats.mcnemar_exact_p(row["fixed"], row["broken"]))
    return out


_FLOAT = pa.float64()
POST_STEPS: dict[str, PostStep] = {
    "policy_comparison": PostStep(
        adds=tuple(
            (f"{prefix}_{end}", _FLOAT)
            for prefix in ("pass_at_1", "mean_cost_usd", "cost_per_solved_usd", "cost_relative",
                           "weighted_relative")
            for end in ("low", "high")
        ),
        compute=_policy_comparison,
    ),
    "paired": PostStep(adds=(("mcnemar_p", _FLOAT),), compute=_paired),
    "run_diff": PostStep(
        adds=(
            ("pass_at_1_change_low", _FLOAT), ("pass_at_1_change_high", _FLOAT),
            ("mean_cost_change_low", _FLOAT), ("mean_cost_change_high", _FLOAT),
            ("mcnemar_p", _FLOAT),
        ),
        compute=_run_diff,
    ),
}


def run_named(
    con: duckdb.DuckDBPyConnection | str, name: str, params: Mapping[str, Any] | None = None
) -> pa.Table:
    """Run a named query with its post-step; the header's columns, in its order."""
    raw = run_query(con, name, params)
    header = parse_header(query_path(name))
    step = POST_STEPS.get(name)
    added: dict[str, pa.Array] = {}
    if step is not None:
        values = step.compute(raw.to_pylist()) if raw.num_rows else {n: [] for n, _ in step.adds}
        added = {name_: pa.array(values[name_], type_) for name_, type_ in step.adds}
    columns = {}
    for column in header.columns:
        if column in added:
            columns[column] = added[column]
        elif column in raw.column_names:
            columns[column] = raw.column(column)
        else:
            raise QueryError(f"query {name!r}: header column {column!r} is neither selected nor computed")
    return pa.table(columns) if columns else raw.select([])
