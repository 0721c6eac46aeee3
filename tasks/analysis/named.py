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


def _policy_comparison(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    _check_options(rows)
    out: dict[str, list[Any]] = {name: [] for name, _ in POST_STEPS["policy_comparison"].adds}
    for row in rows:
        problems = row["_problems"]
        options = _options(row)
        passes = [p["pass_rate"] for p in problems]
        costs = [p["cost_usd"] for p in problems]
        for prefix, interval in (
            ("pass_at_1", stats.mean_interval(passes, **options)),
            ("mean_cost_usd", stats.mean_interval(costs, **options)),
            ("cost_per_solved_usd", stats.ratio_interval(costs, passes, **options)
             if row["cost_per_solved_usd"] is not None else (None, None)),
        ):
            out[f"{prefix}_low"].append(interval[0])
            out[f"{prefix}_high"].append(interval[1])
        with_reference = [p for p in problems if p["reference_cost_usd"] is not None]
        relative = (None, None)
        if row["cost_relative_to_reference"] is not None:
            relative = stats.ratio_interval(
                [p["cost_usd"] for p in with_reference],
                [p["reference_cost_usd"] for p in with_reference],
                **options,
            )
        out["cost_relative_low"].append(relative[0])
        out["cost_relative_high"].append(relative[1])
        weighted = (None, None)
        if row["weighted_cost_relative_to_reference"] is not None:
            weighted = stats.ratio_interval(
                [p["weighted_tokens"] for p in with_reference],
                [p["reference_weighted_tokens"] for p in with_reference],
                **options,
            )
        out["weighted_relative_low"].append(weighted[0])
        out["weighted_relative_high"].append(weighted[1])
    return out


def _paired(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {"mcnemar_p": [stats.mcnemar_exact_p(row["only_a"], row["only_b"]) for row in rows]}


def _run_diff(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    _check_options(rows)
    out: dict[str, list[Any]] = {name: [] for name, _ in POST_STEPS["run_diff"].adds}
    for row in rows:
        problems = row["_problems"]
        options = _options(row)
        for name, key in (("pass_at_1_change", "pass_rate"), ("mean_cost_change", "cost_usd")):
            low, high = stats.difference_interval(
                [p[f"{key}_b"] for p in problems], [p[f"{key}_a"] for p in problems], **options
            )
            out[f"{name}_low"].append(low)
            out[f"{name}_high"].append(high)
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
