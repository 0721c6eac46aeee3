"""Sweeps at scale: HumanEval + MBPP work items through the real flow with zero-latency sim models.

The sweep runs as `patflow run` does (Prefect flow, one shared ephemeral Prefect API, Dask worker
processes, subprocess sandboxes, Parquet, compaction), on a LocalCluster this script starts so it
can ask each worker for its peak RSS and its time split afterwards. The models are the
in-process simulator (`sim/small` generator, `sim/large` planner; no latency): the sweep is
bound by the sandbox and by orchestration only.

Mutation mix: the simulator's wrong answers are drawn from `tasks.models.sim.MUTATION_WEIGHTS`
(wrong operator, off-by-one, dropped branch, syntax error, endless loop ...). `--no-loops` sets the
endless-loop weight to 0 in every process (isolates orchestration from timeouts); the default
keeps the simulator's own weights (shows what timeouts cost).

Reports: items/s, sandbox executions/s in the sweep, the sandbox's own executions/s on the same
programs outside the sweep (the final programs re-verified on their public tests, as many at a
time as the sweep ran), the share of worker time outside policy work (Prefect + Dask + storage),
peak RSS of the flow process and of every worker, files in the store before and after
compaction, and a compare_policies query's time on the compacted store.

Run: .venv/bin/python benchmarks/sweep_bench.py --items 2000 --workers 2 [--no-loops] [--json out.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")  # a loaded machine

from flows import environment  # noqa: F401, E402

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def _no_loops() -> None:
    import tasks.models.sim as sim

    sim.MUTATION_WEIGHTS["infinite_loop"] = 0.0


def _worker_report() -> dict:
    from tasks.sweep import PROCESS_TIMINGS

    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **PROCESS_TIMINGS}


def _plan(items: int) -> list[tuple[str, int, int]]:
    """(benchmark, problem limit, seeds) so humaneval + mbpp hold ``items`` work items (2 policies)."""
    half = items // 2
    plan = []
    for name, available in (("humaneval", 164), ("mbpp", 500)):
        seeds = max(1, -(-half // (2 * available)))
        limit = min(available, max(1, half // (2 * seeds)))
        plan.append((name, limit, seeds))
    return plan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=0, help="0: items / (8 x workers), 16..256")
    parser.add_argument("--no-loops", action="store_true")
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    from flows.cluster import shared_prefect_api
    from flows.sweep import make_task_runner, sweep
    from tasks.benchmarks import load_benchmark
    from tasks.policies import parse_policy_spec
    from tasks.records import ModelConfig, RunConfig
    from tasks.storage import connect, run_query
    from tasks.storage.compact import compact_run

    if args.no_loops:
        _no_loops()
    root = args.store or Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    store, cache = root / "runs", root / "cache"
    chunk_size = args.chunk_size or max(16, min(256, args.items // (8 * args.workers)))
    verify_concurrency = max(2, 2 * (os.cpu_count() or 1) // args.workers)
    t0 = time.perf_counter()
    report: dict = {"items_requested": args.items, "workers": args.workers, "chunk_size": chunk_size,
                    "no_loops": args.no_loops, "store": str(store), "runs": []}  # fmt: skip
    with shared_prefect_api():
        report["startup_prefect_api_s"] = time.perf_counter() - t0
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
            if args.no_loops:
                client.run(_no_loops)
            report["startup_cluster_s"] = time.perf_counter() - t0
            totals = {"items": 0, "executions": 0, "cached": 0, "elapsed_s": 0.0}
            for name, limit, seeds in _plan(args.items):
                load_started = time.perf_counter()
                load_benchmark(name)
                config = RunConfig(
                    run_id=f"bench-{name}", benchmark=name,
                    policies=(parse_policy_spec("standard"), parse_policy_spec("pat")),
                    generator=ModelConfig("sim/small"), planner=ModelConfig("sim/large"),
                    seeds=seeds, limit=limit, store=str(store), chunk_size=chunk_size,
                    extra={"cache_dir": str(cache)},
                )  # fmt: skip
                load_s = time.perf_counter() - load_started
                started = time.perf_counter()
                summary = sweep.with_options(task_runner=make_task_runner(cluster.scheduler_address))(
                    config, verify_concurrency=verify_concurrency
                )
                wall = time.perf_counter() - started
                report["runs"].append({"benchmark": name, "limit": limit, "seeds": seeds,
                                       "items": summary.work_items_run, "wall_s": wall,
                                       "benchmark_load_s": load_s,
                                       "sandbox_executions": summary.sandbox_executions,
                                       "verdicts_cached": summary.verdicts_cached,
                                       "passed": summary.passed})  # fmt: skip
                totals["items"] += summary.work_items_run
                totals["executions"] += summary.sandbox_executions
                totals["cached"] += summary.verdicts_cached
                totals["elapsed_s"] += wall
            workers = client.run(_worker_report)
    report["total_wall_s"] = time.perf_counter() - t0
    files_before = len(list(store.rglob("*.parquet")))
    compact_started = time.perf_counter()
    for name, _, _ in _plan(args.items):
        compact_run(store, f"bench-{name}")
    report["compact_s"] = time.perf_counter() - compact_started
    report["files_before_compaction"] = files_before
    report["files_after_compaction"] = len(list(store.rglob("*.parquet")))
    query_started = time.perf_counter()
    con = connect(store)
    run_query(con, "policy_comparison", {})
    report["compare_policies_query_s"] = time.perf_counter() - query_started

    # The sandbox's own rate on the same programs: final programs on their public tests.
    from tasks.verification import verify

    rows = con.sql("SELECT dataset_name, task_id, final_program FROM outcomes WHERE final_program IS NOT NULL"
                   " USING SAMPLE 400 ROWS (reservoir, 7)").fetchall()  # fmt: skip
    con.close()
    problems = {}
    for name, _, _ in _plan(args.items):
        for problem in load_benchmark(name).problems:
            problems[(name, problem.task_id)] = problem
    jobs = [(program, problems[(d, t)]) for d, t, program in rows if (d, t) in problems]
    own_started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=verify_concurrency * args.workers) as pool:
        list(pool.map(lambda job: verify(job[0], job[1].public_tests, time_limits_s=job[1].public_time_limits_s), jobs))
    own_s = time.perf_counter() - own_started

    worker_time = sum(w["policy_s"] + w["write_s"] for w in workers.values())
    policy_time = sum(w["policy_s"] for w in workers.values())
    wall_worker_s = totals["elapsed_s"] * args.workers
    report.update(
        items=totals["items"],
        items_per_s=totals["items"] / totals["elapsed_s"],
        sweep_executions_per_s=totals["executions"] / totals["elapsed_s"],
        sandbox_own_executions_per_s=len(jobs) / own_s if own_s else None,
        sandbox_own_programs=len(jobs),
        share_outside_policy_work=1 - policy_time / wall_worker_s,
        share_storage_writes=sum(w["write_s"] for w in workers.values()) / wall_worker_s,
        worker_busy_share=worker_time / wall_worker_s,
        flow_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        workers_peak_rss_mb=sorted(round(w["peak_rss_mb"]) for w in workers.values()),
    )
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
