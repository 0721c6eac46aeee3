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
work outside the sweep (stratified samples of the sweep's own sandbox runs — program, tests,
limits; the runs under 1 s and the slow ones apart, each weighted by its count — replayed after
it, as many at a time as the sweep ran them), each worker's time split (before, in, between and
after its chunks; resident size after each chunk), the share of worker time outside policy
work (Prefect + Dask + storage), peak RSS of the flow process (through the sweep, and overall)
and of every worker, files in the store before and after compaction, and the policy_comparison query's time on the compacted store. The config is one
file with both benchmarks, as a user writes it (``_config_yaml``; printed in the report).
``cpu_cores``: cores busy on average during the sweep (split into the workers' own Python, the
flow's, the Prefect API server's, and the rest: sandbox children, any other load) and during the replay,
which has the machine to itself.

Run: PATFLOW_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/sweep_bench.py --items 2000 --workers 2 [--no-loops] [--json out.json]
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

    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **PROCESS_TIMINGS,
            "samples": _worker_samples(), "cpu_own_s": _own_cpu_s()}


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine spent busy so far (every process, every core)."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _prefect_api_cpu_s() -> float:
    """CPU seconds so far of the ephemeral Prefect API server this process started (a uvicorn child)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if "prefect.server.api.server:create_app" in child.cmdline():
                times = child.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            pass
    return total


def _own_cpu_s() -> float:
    """This process's own CPU seconds so far; its (sandbox) children are not in them."""
    own = os.times()
    return own.user + own.system


SLOW_RUN_S = 1.0  # a sandbox run at least this long in the sweep is sampled apart (see below)


def _sample_executions(fast_size: int = 300, slow_size: int = 20) -> None:
    """In each worker: keep uniform samples of the (program, tests, limits) the sweep ran, one
    of the runs that took under ``SLOW_RUN_S`` in the sweep and one of the rest, and count both.

    Sandbox time is heavy-tailed: ~1 % of the runs (timeouts, slow programs) take 5 s or more
    and hold a third or more of the sandbox's time, so a plain sample of a few hundred runs
    holds anywhere from none to a dozen of them, and its replay rate varied 4x between runs
    (11 to 58 runs/s on the same config). Two strata, each replayed on its own and weighted by
    its count, estimate the time of replaying every run the sweep made."""
    import random
    import time

    import tasks.verification as verification

    run = verification.verify
    rng = random.Random(7)
    strata = {"fast": ([], fast_size, [0]), "slow": ([], slow_size, [0])}

    def sampled(program, tests, time_limits_s=None, *, limits=None, imports="none"):
        started = time.perf_counter()
        verdict = run(program, tests, time_limits_s=time_limits_s, limits=limits, imports=imports)
        sample, size, seen = strata["slow" if time.perf_counter() - started >= SLOW_RUN_S else "fast"]
        seen[0] += 1
        job = (program, tests, time_limits_s, limits, imports)
        if len(sample) < size:
            sample.append(job)
        elif rng.random() < size / seen[0]:
            sample[rng.randrange(size)] = job
        return verdict

    sampled.strata = strata  # kept on the worker's module (this function's globals are a copy)
    verification.verify = sampled


def _worker_samples() -> dict:
    import tasks.verification as verification

    strata = getattr(verification.verify, "strata", {})
    return {name: {"jobs": list(sample), "count": seen[0]} for name, (sample, _, seen) in strata.items()}


def _replay(jobs: list, threads: int) -> float:
    """Replay sampled sandbox runs, ``threads`` at a time; the wall seconds it took."""
    from tasks.verification import verify

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda j: verify(j[0], j[1], time_limits_s=j[2], limits=j[3], imports=j[4]), jobs))
    return time.perf_counter() - started


def sandbox_own_rate(workers: dict, threads: int) -> dict:
    """The sandbox's own executions/s on the sweep's runs, outside the sweep, at the sweep's
    concurrency: each stratum's sample replayed, its rate scaled to the stratum's count;
    executions / (sum over strata of count / rate)."""
    figures, seconds, total = {}, 0.0, 0
    for name in ("fast", "slow"):
        jobs = [job for w in workers.values() for job in w["samples"][name]["jobs"]]
        count = sum(w["samples"][name]["count"] for w in workers.values())
        total += count
        if not jobs or not count:
            figures[name] = {"runs_in_sweep": count, "replayed": len(jobs)}
            continue
        wall = _replay(jobs, threads)
        rate = len(jobs) / wall
        seconds += count / rate
        figures[name] = {"runs_in_sweep": count, "replayed": len(jobs), "replay_s": round(wall, 2),
                         "executions_per_s": round(rate, 2), "estimated_s_for_all": round(count / rate, 1)}  # fmt: skip
    figures["executions_per_s"] = total / seconds if seconds else None
    return figures


def _merged(intervals) -> list[tuple[float, float]]:
    """Overlapping (start, end) intervals merged, in order."""
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _length(intervals) -> float:
    return sum(end - start for start, end in _merged(intervals))


def _time_split(workers: dict, start: float, end: float) -> dict:
    """Each worker's sweep wall time by what it was doing: before its first chunk (flow start-up,
    planning, the worker's imports), in chunks (policy work and writes; a worker runs two at
    once, so this is the time at least one was running), in policy work (at least one chunk
    running its items), between chunks (none running: Prefect task and Dask hand-off), after its
    last chunk (waiting for the other worker: the tail)."""
    split = {}
    for address, report in workers.items():
        spans = sorted(report["spans"])
        if not spans:
            split[address] = {"idle_s": end - start}
            continue
        in_chunks = _merged((span[0], span[2]) for span in spans)
        between = sum(b[0] - a[1] for a, b in zip(in_chunks, in_chunks[1:]))
        rss = [round(span[3]) for span in sorted(spans, key=lambda span: span[2])]
        split[address] = {
            "chunks": len(spans),
            "before_first_chunk_s": round(in_chunks[0][0] - start, 2),
            "in_chunks_s": round(sum(b - a for a, b in in_chunks), 2),
            "in_policy_work_s": round(_length((span[0], span[1]) for span in spans), 2),
            "between_chunks_s": round(between, 2),
            "after_last_chunk_s": round(end - in_chunks[-1][1], 2),
            # resident MB after each chunk: first, quartiles, last (growth vs a plateau)
            "rss_after_chunks_mb": [rss[0], rss[len(rss) // 4], rss[len(rss) // 2], rss[3 * len(rss) // 4], rss[-1]],
        }
    return split


AVAILABLE = (("humaneval", 164), ("mbpp", 500))


def _plan(items: int) -> tuple[int, list[tuple[str, int]]]:
    """(seeds, [(benchmark, problem limit)]): humaneval + mbpp in one config holding ``items``
    work items over 2 policies. Seeds apply to the whole sweep: the fewest seeds that fit,
    every HumanEval problem, then MBPP problems to make up the count (2,000 items: 2 seeds,
    164 + 336 problems; 20,000: 16 seeds, 164 + 461)."""
    seeds = max(1, -(-items // (2 * sum(n for _, n in AVAILABLE))))
    problems = max(1, items // (2 * seeds))
    plan = []
    for name, available in AVAILABLE:
        take = min(available, problems)
        if take:
            plan.append((name, take))
        problems -= take
    return seeds, plan


def _config_yaml(items: int, store: Path, cache: Path, chunk_size: int | None) -> str:
    """The sweep as a user writes it: one config, both benchmarks."""
    seeds, plan = _plan(items)
    lines = ["benchmarks:"] + [f"  - {{name: {name}, limit: {limit}}}" for name, limit in plan]
    lines += [
        "configurations:",
        "  - {name: sim, generator: sim/small, planner: sim/large}",
        "policies: [standard, pat]",
        f"seeds: {seeds}",
        f"store: {store}",
        f"cache_dir: {cache}",
    ]
    if chunk_size:
        lines += ["concurrency:", f"  chunk_size: {chunk_size}"]
    return "\n".join(lines) + "\n"


def main(worker_reports: list | None = None) -> None:
    """``worker_reports``: a list to receive every worker's ``_worker_report``."""
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
    from flows.sweep import claim_run, local_cluster_kwargs, make_task_runner, sweep
    from tasks.storage import connect, run_query
    from tasks.storage.compact import compact_run
    from tasks.sweep_config import parse_yaml, resolve_document

    if args.no_loops:
        _no_loops()
    root = args.store or Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    store, cache = root / "runs", root / "cache"
    text = _config_yaml(args.items, store, cache, args.chunk_size or None)
    verify_concurrency = max(2, 2 * (os.cpu_count() or 1) // args.workers)
    t0 = time.perf_counter()
    report: dict = {"items_requested": args.items, "workers": args.workers, "config": text,
                    "no_loops": args.no_loops, "store": str(store)}  # fmt: skip
    with shared_prefect_api():
        report["startup_prefect_api_s"] = time.perf_counter() - t0
        with LocalCluster(**local_cluster_kwargs(args.workers)) as cluster, Client(cluster) as client:
            if args.no_loops:
                client.run(_no_loops)
            client.run(_sample_executions)
            report["startup_cluster_s"] = time.perf_counter() - t0
            load_started = time.perf_counter()
            config = resolve_document(parse_yaml(text, "sweep_bench"), "sweep_bench")
            report["config_and_benchmark_load_s"] = time.perf_counter() - load_started
            claim_run(config)
            workers_cpu_before = sum(client.run(_own_cpu_s).values())
            busy_before, flow_cpu_before, api_cpu_before = _busy_cpu_s(), _own_cpu_s(), _prefect_api_cpu_s()
            started, started_epoch = time.perf_counter(), time.time()
            summary = sweep.with_options(task_runner=make_task_runner(cluster.scheduler_address))(
                config, verify_concurrency=verify_concurrency
            )
            elapsed, ended_epoch = time.perf_counter() - started, time.time()
            busy_s, flow_cpu_s = _busy_cpu_s() - busy_before, _own_cpu_s() - flow_cpu_before
            api_cpu_s = _prefect_api_cpu_s() - api_cpu_before
            workers = client.run(_worker_report)
            workers_cpu_s = sum(w["cpu_own_s"] for w in workers.values()) - workers_cpu_before
    if worker_reports is not None:
        worker_reports.extend(workers.values())
    split = report["worker_time_split_s"] = _time_split(workers, started_epoch, ended_epoch)
    # The flow's peak through the sweep, before compaction, the query and the replay below.
    report["flow_peak_rss_mb_sweep"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["total_wall_s"] = time.perf_counter() - t0
    files_before = len(list(store.rglob("*.parquet")))
    compact_started = time.perf_counter()
    compact_run(str(store), config.run_id)
    report["compact_s"] = time.perf_counter() - compact_started
    report["files_before_compaction"] = files_before
    report["files_after_compaction"] = len(list(store.rglob("*.parquet")))
    query_started = time.perf_counter()
    con = connect(str(store))
    run_query(con, "policy_comparison", {})
    report["policy_comparison_query_s"] = time.perf_counter() - query_started
    con.close()

    # The sandbox's own rate on the sweep's own workload: stratified samples of the runs it made,
    # replayed outside the sweep at the same concurrency (every worker's slots at once).
    replay_busy_before, replay_started = _busy_cpu_s(), time.perf_counter()
    own = sandbox_own_rate(workers, verify_concurrency * args.workers)
    report["sandbox_own_replay"] = own
    # Cores in use on average: the sweep's sandbox runs share the machine with the workers' own
    # Python (model client, policies, encoding) and the flow; the replay has it to itself.
    rest_s = busy_s - workers_cpu_s - flow_cpu_s - api_cpu_s
    report["cpu_cores"] = {
        "sweep_busy": busy_s / elapsed,
        "sweep_workers_own": workers_cpu_s / elapsed,
        "sweep_flow_own": flow_cpu_s / elapsed,
        "sweep_prefect_api": api_cpu_s / elapsed,
        "sweep_rest": rest_s / elapsed,  # sandbox children, anything else running
        "replay_busy": (_busy_cpu_s() - replay_busy_before) / (time.perf_counter() - replay_started),
        "machine": os.cpu_count(),
    }
    totals = {"items": summary.work_items_run, "executions": summary.sandbox_executions, "elapsed_s": elapsed}
    report.update(sweep_wall_s=elapsed, passed=summary.passed, verdicts_cached=summary.verdicts_cached,
                  sandbox_executions=summary.sandbox_executions, chunks_failed=summary.chunks_failed)  # fmt: skip

    # Wall time in which a worker had a chunk running / a chunk in policy work (its two chunks
    # overlap), and in which it was writing with no chunk in policy work beside it.
    worker_time = sum(w.get("in_chunks_s", 0.0) for w in split.values())
    policy_time = sum(w.get("in_policy_work_s", 0.0) for w in split.values())
    wall_worker_s = totals["elapsed_s"] * args.workers
    report.update(
        items=totals["items"],
        items_per_s=totals["items"] / totals["elapsed_s"],
        sweep_executions_per_s=totals["executions"] / totals["elapsed_s"],
        sandbox_own_executions_per_s=own["executions_per_s"],
        sweep_over_own_rate=(totals["executions"] / totals["elapsed_s"]) / own["executions_per_s"] if own["executions_per_s"] else None,
        share_outside_policy_work=1 - policy_time / wall_worker_s,
        share_storage_writes=(worker_time - policy_time) / wall_worker_s,
        worker_busy_share=worker_time / wall_worker_s,
        flow_peak_rss_mb_overall=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        workers_peak_rss_mb=sorted(round(w["peak_rss_mb"]) for w in workers.values()),
    )
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
