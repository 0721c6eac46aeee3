"""Analysis-query speed on a large synthetic store in the real schema (tasks/storage/schemas.py).

Builds two runs of five configurations (standard on two generators, pat, two pat variants) over
5,000 problems x 2 seeds each: 100,000 outcomes, 1,000,000 calls (10 per item, over the roles,
phases and tree depths the policies write) and 300,000 verifications, as Parquet in the store's
hive layout (ten chunk files per table per run), then times every named query through
``run_named`` (SQL plus its statistics post-step), best of three, each on a fresh connection;
for a query with a post-step it also times the SQL alone (``run_query``), so the split of the
time shows. ``--outcomes N`` sizes the store by work items instead (N / 20 problems: two runs x
five configurations x two seeds). Prints figures; asserts nothing. Usage:
    .venv/bin/python benchmarks/query_bench.py [--problems 5000 | --outcomes 20000]
        [--calls-per-item 10] [--store DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.analysis.named import POST_STEPS, run_named  # noqa: E402
from tasks.storage import connect, list_queries, run_query  # noqa: E402
from tasks.storage.schemas import SCHEMA_VERSION, SCHEMAS  # noqa: E402

CONFIGS = (  # policy label, generator, planner, pass rate, trial-first
    ("standard", "sim/small", "sim/large", 0.55, False),
    ("standard", "sim/large", "sim/large", 0.80, False),
    ("pat", "sim/small", "sim/large", 0.72, True),
    ("pat:max_plans=1", "sim/small", "sim/large", 0.68, True),
    ("pat:max_plans=5", "sim/small", "sim/large", 0.74, True),
)
PHASES = np.array(["generate", "write_tests", "decompose", "generate", "repair"])
ROLES = np.array(["generator", "generator", "planner", "generator", "generator"])
STATUSES = np.array(["failed", "error:ValueError", "timeout", "syntax_error", "memory_exceeded"])
CHUNKS = 10
PARAMS = {
    "paired": {"policy_a": "pat", "policy_b": "standard", "generator_b": "sim/large"},
    "run_diff": {"run_a": "r1", "run_b": "r2"},
}


def key_columns(n: int, run_id: str, chunk_of, tasks, configs, seeds) -> dict[str, pa.Array]:
    policy = np.array([c[0] for c in CONFIGS])[configs]
    return {
        "schema_version": pa.array(np.full(n, SCHEMA_VERSION, np.int32)),
        "chunk_id": pa.array(np.char.add("c", chunk_of.astype(str))),
        "run_id": pa.array(np.full(n, run_id)),
        "dataset_name": pa.array(np.full(n, "synthetic")),
        "dataset_version": pa.array(np.full(n, "1")),
        "dataset_sha256": pa.array(np.full(n, "00" * 32)),
        "task_id": pa.array(np.char.add("t/", tasks.astype(str))),
        "policy": pa.array(policy),
        "policy_spec": pa.array(np.char.add('{"name": "', np.char.add(policy, '"}'))),
        "generator_model": pa.array(np.array([c[1] for c in CONFIGS])[configs]),
        "planner_model": pa.array(np.array([c[2] for c in CONFIGS])[configs]),
        "seed": pa.array(seeds.astype(np.int64)),
    }


def write_table(store: Path, table_name: str, run_id: str, columns: dict, chunk_of: np.ndarray) -> None:
    schema = SCHEMAS[table_name]
    table = pa.table({f.name: columns[f.name] for f in schema}).cast(schema)
    directory = store / table_name / f"run_id={run_id}"
    directory.mkdir(parents=True, exist_ok=True)
    for chunk in range(CHUNKS):
        mask = pa.array(chunk_of == chunk)
        pq.write_table(table.filter(mask), directory / f"c{chunk}.parquet")


def build_run(store: Path, run_id: str, problems: int, calls_per_item: int, rng) -> tuple[int, int, int]:
    seeds_per = 2
    items = problems * len(CONFIGS) * seeds_per
    tasks = np.repeat(np.arange(problems), len(CONFIGS) * seeds_per)
    configs = np.tile(np.repeat(np.arange(len(CONFIGS)), seeds_per), problems)
    seeds = np.tile(np.arange(seeds_per), problems * len(CONFIGS))
    chunk_of = tasks % CHUNKS
    rates = np.array([c[3] for c in CONFIGS])[configs]
    passed = rng.random(items) < rates
    trial_first = np.array([c[4] for c in CONFIGS])[configs]
    trial = np.where(trial_first, passed & (rng.random(items) < 0.8), False)
    status = np.where(passed, "passed", STATUSES[rng.integers(0, len(STATUSES), items)])
    keys = key_columns(items, run_id, chunk_of, tasks, configs, seeds)
    now = np.full(items, 1_700_000_000_000_000, np.int64)
    none_str = pa.nulls(items, pa.string())
    outcomes = {
        **keys,
        "passed": pa.array(passed), "status": pa.array(status),
        "suites_passed": pa.array([[("base", bool(p)), ("plus", bool(p))] for p in passed],
                                  pa.map_(pa.string(), pa.bool_())),
        "final_program": pa.array(np.full(items, "def f(x):\n    return x + 1\n")),
        "planner_invoked": pa.array(trial_first & ~trial), "replans": pa.array(np.zeros(items, np.int32)),
        "model_calls": pa.array(np.full(items, calls_per_item, np.int32)), "error": none_str,
        "started_at": pa.array(now, pa.timestamp("us", tz="UTC")),
        "finished_at": pa.array(now + 1_000_000, pa.timestamp("us", tz="UTC")),
        "nodes": pa.array(np.where(trial_first & ~trial, 3, 1).astype(np.int32)),
        "max_depth": pa.array(np.where(trial_first & ~trial, 1, 0).astype(np.int32)),
        "decompositions": pa.array(np.where(trial_first & ~trial, 1, 0).astype(np.int32)),
        "reverts": pa.array(np.zeros(items, np.int32)),
        "accepted_unverified": pa.array(rng.random(items) < 0.05),
        "selected_on": pa.array(np.full(items, "generated")),
        "selected_tests_total": pa.array(np.full(items, 5, np.int32)),
        "selected_tests_passed": pa.array(np.full(items, 4, np.int32)),
        "root_trial_passed": pa.array(np.where(trial_first, trial, None), pa.bool_()),
        "tree_json": pa.array(np.where(trial_first & ~trial, '{"node": "root"}', "")),
        "cost_usd": pa.array(np.full(items, 0.001)),
        "input_tokens": pa.array(np.full(items, 4000, np.int64)),
        "output_tokens": pa.array(np.full(items, 1200, np.int64)),
    }
    write_table(store, "outcomes", run_id, outcomes, chunk_of)

    n_calls = items * calls_per_item
    item_of = np.repeat(np.arange(items), calls_per_item)
    kind = np.arange(n_calls) % len(PHASES)
    call_keys = key_columns(n_calls, run_id, chunk_of[item_of], tasks[item_of], configs[item_of], seeds[item_of])
    depth = (kind >= 3).astype(np.int32)
    calls = {
        **call_keys,
        "call_index": pa.array((np.arange(n_calls) % calls_per_item).astype(np.int32)),
        "step": pa.array((np.arange(n_calls) % calls_per_item).astype(np.int32)),
        "phase": pa.array(PHASES[kind]), "role": pa.array(ROLES[kind]),
        "model": pa.array(np.where(ROLES[kind] == "planner", "sim/large", "sim/small")),
        "input_tokens": pa.array(rng.integers(100, 800, n_calls)),
        "output_tokens": pa.array(rng.integers(20, 300, n_calls)),
        "cost_usd": pa.array(rng.random(n_calls) / 1000),
        "cost_weight": pa.array(np.where(ROLES[kind] == "planner", 70.0, 8.0)),
        "latency_ms": pa.array(rng.random(n_calls) * 500),
        "cached": pa.array(rng.random(n_calls) < 0.2),
        "error": pa.nulls(n_calls, pa.string()),
        "attempts": pa.array(np.ones(n_calls, np.int32)),
        "request_sha256": pa.array(np.full(n_calls, "ab" * 32)),
        "response_text": pa.array(np.full(n_calls, "def f(x):\n    return x + 1\n")),
        "node_id": pa.array(np.where(depth == 1, "root.0", "root")),
        "parent_node_id": pa.array(np.where(depth == 1, "root", None), pa.string()),
        "depth": pa.array(depth),
        "attempt": pa.array(np.zeros(n_calls, np.int32)),
        "sample_index": pa.array(np.zeros(n_calls, np.int32)),
        "prompt_sha256": pa.array(np.full(n_calls, "ef" * 32)),
    }
    write_table(store, "calls", run_id, calls, chunk_of[item_of])

    per_item = 3
    n_checks = items * per_item
    item_of = np.repeat(np.arange(items), per_item)
    which = np.arange(n_checks) % per_item
    check_passed = np.where(which == 2, passed[item_of], np.where(which == 0, trial[item_of], True))
    check_keys = key_columns(n_checks, run_id, chunk_of[item_of], tasks[item_of], configs[item_of], seeds[item_of])
    verifications = {
        **check_keys,
        "verification_index": pa.array(which.astype(np.int32)),
        "step": pa.array(which.astype(np.int32)),
        "phase": pa.array(np.where(which == 2, "score", "verify")),
        "test_source": pa.array(np.where(which == 2, "hidden:base", "generated")),
        "passed": pa.array(check_passed),
        "status": pa.array(np.where(check_passed, "passed", STATUSES[rng.integers(0, 5, n_checks)])),
        "tests_total": pa.array(np.full(n_checks, 5, np.int32)),
        "tests_passed": pa.array(np.where(check_passed, 5, 2).astype(np.int32)),
        "first_failure": pa.array(np.where(check_passed, "", "assert f(1) == 2")),
        "duration_ms": pa.array(rng.random(n_checks) * 50),
        "program_sha256": pa.array(np.full(n_checks, "cd" * 32)),
        "node_id": pa.array(np.full(n_checks, "root")),
        "parent_node_id": pa.nulls(n_checks, pa.string()),
        "depth": pa.array(np.zeros(n_checks, np.int32)),
        "attempt": pa.array(np.zeros(n_checks, np.int32)),
        "sample_index": pa.array(np.zeros(n_checks, np.int32)),
    }
    write_table(store, "verifications", run_id, verifications, chunk_of[item_of])
    return items, n_calls, n_checks


def best_time(store: Path, run, repeat: int) -> tuple[float, int]:
    """Best wall time of ``run(connection)`` over ``repeat`` fresh connections, and its rows."""
    best, rows = float("inf"), 0
    for _ in range(repeat):
        con = connect(store)
        began = time.perf_counter()
        rows = run(con).num_rows
        best = min(best, time.perf_counter() - began)
        con.close()
    return best, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=5000, help="problems per run (x5 configs x2 seeds)")
    parser.add_argument("--outcomes", type=int, default=None,
                        help="total work items instead of --problems (a multiple of 20)")
    parser.add_argument("--calls-per-item", type=int, default=10)
    parser.add_argument("--store", type=Path, default=None, help="build here (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh-connection runs per query; best is kept")
    args = parser.parse_args()
    items_per_problem = 2 * len(CONFIGS) * 2  # runs x configurations x seeds
    problems = args.problems if args.outcomes is None else max(1, args.outcomes // items_per_problem)
    store = args.store or Path(tempfile.mkdtemp(prefix="query-bench-"))
    shutil.rmtree(store, ignore_errors=True)
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    totals = [build_run(store, run_id, problems, args.calls_per_item, rng) for run_id in ("r1", "r2")]
    outcomes, calls, checks = (sum(t[i] for t in totals) for i in range(3))
    print(f"built {outcomes:,} outcomes, {calls:,} calls, {checks:,} verifications in "
          f"{time.perf_counter() - started:.1f}s at {store}")
    results, sql_only = {}, {}
    print(f"{'query':24s} {'total':>8s} {'sql':>8s}  rows")
    for name, _ in list_queries():
        params = PARAMS.get(name, {})
        results[name], rows = best_time(store, lambda con: run_named(con, name, params), args.repeat)
        sql_text = "        "
        if name in POST_STEPS:
            sql_only[name], _ = best_time(store, lambda con: run_query(con, name, params), args.repeat)
            sql_text = f"{sql_only[name]:8.3f}"
        print(f"{name:24s} {results[name]:8.3f} {sql_text}  {rows}")
    print(json.dumps({"outcomes": outcomes, "calls": calls, "seconds": results, "sql_seconds": sql_only}))
    if args.store is None:
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
