"""Model-layer load benchmark: ModelClient through litellm's real HTTP path against `patflow sim serve`.

Prints (and with --json writes) four figures:
1. throughput: one worker process, concurrency 32, server latency 200 ms -> ideal 160 req/s;
   achieved rate, its share of ideal, and the client's CPU per request;
2. scaling: the same with 2 worker processes (ideal 320 req/s on this machine's 2 cores, which
   the server and the workers share);
3. rate limit: server `--rate-limit N` and client `requests_per_minute = 60 N`; the most
   requests the server saw in any 1 s window, and its 429 count (both must stay <= N and 0);
4. cache: the first run's requests again from the cache: model calls made (server counter) and
   the speed-up over the first run;
5. simulator calibration (in-process, HumanEval, no sandbox): how often each sim model answers
   with the reference solution (PaT end to end is benchmarks/policy_bench.py's).

6. sweep mode (``--only sweep``, not in the default run): a real sweep — ``patflow run``, Prefect
   flow, Dask LocalCluster of 1 and then 2 workers, standard policy on HumanEval, one model call
   per item, max_concurrency 32 for the whole sweep — against the same server; the request rate
   over the window the server counted requests in, as a share of min(concurrency / latency =
   160/s, what the client CPU allows). The CPU limit is measured in the same run: the cores the
   server and the machine's other load left to the sweep's process tree (flow, Prefect API,
   workers and their sandbox runs), over that tree's CPU seconds per request, and at most what
   one process allows (the busiest one's rate if it had a whole core). Each worker count
   runs twice: "cold" (every program verified in the sandbox, which dominates the CPU) and
   "cached" (the same sweep under a new run id with the verdict cache kept and the response
   cache deleted: every model call reaches the server, no program runs).

Run: .venv/bin/python benchmarks/llm_bench.py [--requests 960] [--rate-limit 50] [--json out.json]
     .venv/bin/python benchmarks/llm_bench.py --only calibration
     .venv/bin/python benchmarks/llm_bench.py --only sweep [--sweep-problems 164 --sweep-seeds 2]
     .venv/bin/python benchmarks/llm_bench.py --only sweep --sweep-seeds 122 --sweep-workers 2,1 --sweep-one-cold-run
A/B switches for the load part (compare runs interleaved; the machine is shared and noisy):
     --no-turns    litellm's per-call work interleaved round-robin, as before the client's turns
     --openai-sdk  OpenAI-compatible calls through the OpenAI SDK instead of litellm's own handler
Every process it starts is its own child and is stopped by PID when it ends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

LATENCY_MS = 200
CONCURRENCY = 32


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, *options: str) -> None:
        self.port = free_port()
        command = [sys.executable, "-c", "from flows.cli import app; app()", "sim", "serve",
                   "--host", "127.0.0.1", "--port", str(self.port), *options]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.api_base}/models", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("sim serve did not start")
                time.sleep(0.05)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def cpu_s(self) -> float:
        """The server process's user + system CPU time so far."""
        with open(f"/proc/{self.process.pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stats(self) -> dict:
        url = f"http://127.0.0.1:{self.port}/sim/stats"
        return json.loads(urllib.request.urlopen(url, timeout=5).read())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _worker(api_base, cache_dir, worker_index, requests, concurrency, rpm, ablations, ready, go,
            results) -> None:  # fmt: skip
    if "openai_sdk" in ablations:
        os.environ["EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER"] = "False"
    from tasks.models import ModelClient, ResponseCache

    if "no_turns" in ablations:
        from tasks.models import loop_http as loop_http_module

        async def never_take(call) -> None:
            return None

        loop_http_module.CallTurn.take = never_take
    from tasks.records import ModelConfig, ModelRequest

    config = ModelConfig(
        "openai/sim-small",
        api_base=api_base,
        max_concurrency=concurrency,
        requests_per_minute=rpm,
        timeout_s=30.0,
        max_retries=3,
    )
    client = ModelClient(cache=ResponseCache(cache_dir) if cache_dir else None)
    batch = [
        ModelRequest((("user", f"def task_{worker_index}_{i}(values):\n    '''Sum them.'''"),))
        for i in range(requests)
    ]

    async def run() -> tuple[float, float, float, int, int]:
        await ModelClient(cache=None).complete(config, ModelRequest((("user", f"warm {worker_index}"),)))
        ready.put(worker_index)
        go.wait()
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        done = await asyncio.gather(*(client.complete(config, r) for r in batch))
        wall_end, cpu_end = time.perf_counter(), time.process_time()
        await client.aclose()
        errors = sum(c.error is not None for c in done)
        hits = sum(c.cached for c in done)
        return wall_start, wall_end, cpu_end - cpu_start, errors, hits

    wall_start, wall_end, cpu_s, errors, hits = asyncio.run(run())
    # perf_counter is system-wide monotonic on Linux, so starts/ends compare across processes
    results.put((worker_index, wall_start, wall_end, cpu_s, errors, hits, len(batch)))


ABLATIONS: tuple[str, ...] = ()  # set from the command line


def run_workers(server, workers, requests, concurrency=CONCURRENCY, rpm=None, cache_dir=None):
    api_base = server.api_base
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Queue(), context.Event(), context.Queue()
    processes = [
        context.Process(
            target=_worker,
            args=(api_base, cache_dir, index, requests, concurrency, rpm, ABLATIONS, ready, go,
                  results),  # fmt: skip
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    # every worker warms up (imports litellm, first HTTP call) before the clock starts
    for _ in processes:
        ready.get(timeout=180)
    server_cpu_start = server.cpu_s()
    go.set()
    rows = [results.get(timeout=600) for _ in processes]
    server_cpu_s = server.cpu_s() - server_cpu_start
    for process in processes:
        process.join(timeout=30)
    start = min(r[1] for r in rows)
    end = max(r[2] for r in rows)
    total = sum(r[6] for r in rows)
    return {
        "workers": workers,
        "concurrency_per_worker": concurrency,
        "requests": total,
        "elapsed_s": round(end - start, 3),
        "rate_per_s": round(total / (end - start), 1),
        "client_cpu_ms_per_request": round(1000 * sum(r[3] for r in rows) / total, 2),
        "server_cpu_ms_per_request": round(1000 * server_cpu_s / total, 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "errors": sum(r[4] for r in rows),
        "cache_hits": sum(r[5] for r in rows),
    }


def calibration(seeds: int = 2) -> dict:
    from tasks import prompts
    from tasks.benchmarks import load_benchmark
    from tasks.models import cost_usd, model_pricing
    from tasks.models import sim
    from tasks.records import ModelConfig

    problems = load_benchmark("humaneval").problems
    sim.register_problems(problems)
    price = {name: model_pricing(ModelConfig(f"sim/{name}")) for name in sim.SKILLS}

    def ask(model: str, messages, seed: int, problem):
        answer = sim.respond(model, messages, seed=seed, max_tokens=1024)
        correct = prompts.extract_code(answer.text).strip() == problem.reference_solution.strip()
        return correct, cost_usd(price[model], answer.input_tokens, answer.output_tokens)

    # PaT end to end (trials, written tests, decomposition) is measured by benchmarks/policy_bench.py.
    rows = {name: [0, 0.0] for name in sim.SKILLS}
    for problem in problems:
        for seed in range(seeds):
            generate = prompts.generate_messages(problem.prompt, problem.entry_point)
            for name in sim.SKILLS:
                correct, cost = ask(name, generate, seed, problem)
                rows[name][0] += correct
                rows[name][1] += cost
    total = len(problems) * seeds
    figures = {
        f"sim/{name}": {"reference_rate": round(c / total, 3), "usd_per_problem": c_usd / total}
        for name, (c, c_usd) in rows.items()
    }
    return figures


# --------------------------------------------------------------------------- sweep mode
SWEEP_CONCURRENCY = 32  # the model entry's max_concurrency: sweep-wide, whatever the worker count


def _machine_busy_s() -> float:
    """CPU seconds every core of this machine spent busy so far (/proc/stat: all but idle, iowait)."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class _TreeCpu:
    """CPU seconds of a process and all its descendants, alive or already exited, as last seen by
    ``sample``: each live process's own time plus that of the children it has waited for (the
    sandbox runs, mostly too short to be seen); an exited process's last figure counts only if
    its parent is gone too (else the parent's waited-for children's time holds it)."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.seen: dict[int, tuple[int, float, float]] = {}  # pid: (parent, own + waited children, own)

    def sample(self) -> float:
        import psutil

        alive = set()
        for process in [self.root, *self.root.children(recursive=True)]:
            try:
                times, parent = process.cpu_times(), process.ppid()
            except psutil.Error:
                continue
            own = times.user + times.system
            self.seen[process.pid] = (parent, own + times.children_user + times.children_system, own)
            alive.add(process.pid)
        return sum(total for pid, (parent, total, _) in self.seen.items() if pid in alive or parent not in alive)

    def own(self) -> dict[int, float]:
        """Each process's own CPU seconds so far (without its children's)."""
        return {pid: own for pid, (_, _, own) in self.seen.items()}


def run_sweep(server: Server, workers: int, problems: int, seeds: int, scratch: Path, label: str,
              chunk_size: int | None = None, cache: str | None = None) -> dict:  # fmt: skip
    """One real sweep (``patflow run``: Prefect flow, Dask LocalCluster of ``workers``) against the
    server. The rate is measured over the window in which the server counted requests (polled
    every 0.25 s), not over Prefect's and the cluster's start-up; so is the CPU."""
    models = scratch / f"models-{workers}.toml"
    models.write_text(f'[models."openai/sim-small"]\nmax_concurrency = {SWEEP_CONCURRENCY}\n'
                      f'[models."openai/sim-large"]\nmax_concurrency = {SWEEP_CONCURRENCY}\n')  # fmt: skip
    env = dict(os.environ, PREFECT_HOME=str(scratch / "prefect-home"))
    env.pop("PREFECT_API_URL", None)
    command = [str(Path(sys.executable).parent / "patflow"), "run", "--benchmark", "humaneval",
               "--policy", "standard", "--limit", str(problems), "--seeds", str(seeds),
               "--workers", str(workers), "--generator", "openai/sim-small", "--planner", "openai/sim-large",
               "--api-base", server.api_base, "--models-config", str(models),
               "--store", str(scratch / f"runs-{workers}"), "--run-id", f"{label}-{workers}",
               "--cache-dir", str(scratch / (cache or f"cache-{workers}")), "--format", "json"]  # fmt: skip
    if chunk_size:
        command += ["--chunk-size", str(chunk_size)]
    requests_before = server.stats()["requests"]
    sweep = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)  # fmt: skip
    tree = _TreeCpu(sweep.pid)
    samples = []  # (time, server requests, client tree CPU s, server CPU s, machine busy s)
    while sweep.poll() is None:
        samples.append((time.monotonic(), server.stats()["requests"] - requests_before, tree.sample(),
                        server.cpu_s(), _machine_busy_s(), tree.own()))  # fmt: skip
        time.sleep(0.25)
    output = sweep.stdout.read()
    if sweep.returncode != 0:
        raise RuntimeError(f"the sweep failed:\n{output[-3000:]}")
    total = samples[-1][1]
    first = next(i for i, row in enumerate(samples) if row[1] > 0)
    last = next(i for i, row in enumerate(samples) if row[1] == total)
    start, end = samples[max(first - 1, 0)], samples[last]
    window_s = end[0] - start[0]
    requests = end[1] - start[1]
    client_cpu_s = end[2] - start[2]
    server_cores = (end[3] - start[3]) / window_s
    foreign_cores = max(0.0, (end[4] - start[4]) / window_s - client_cpu_s / window_s - server_cores)
    # What the client CPU allows: the cores the server and other users of the machine left it,
    # over the client's CPU per request (flow, Prefect API, workers, their sandbox runs).
    client_cores = max(0.05, (os.cpu_count() or 1) - server_cores - foreign_cores)
    cpu_limit = client_cores * requests / client_cpu_s
    # The busiest process of the tree in the window (a worker, when it makes the calls): one
    # Python process runs on at most one core at a time, whatever the machine has free.
    busiest_cores = max((end[5].get(pid, 0.0) - own) / window_s for pid, own in start[5].items()) if start[5] else 0.0
    concurrency_limit = SWEEP_CONCURRENCY * 1000 / LATENCY_MS
    rate = requests / window_s
    # ... and what one process allows: the rate at which the busiest (a worker; workers share
    # the calls evenly) would run out of its one core, its CPU per request held.
    process_limit = rate / busiest_cores if busiest_cores > 0 else float("inf")
    cpu_limit = min(cpu_limit, process_limit)
    return {
        "workers": workers,
        "verdicts": label,
        "work_items": problems * seeds,
        "requests": requests,
        "window_s": round(window_s, 2),
        "rate_per_s": round(rate, 1),
        "concurrency_limit_per_s": concurrency_limit,
        "client_cpu_ms_per_request": round(1000 * client_cpu_s / requests, 2),
        "client_cores_available": round(client_cores, 2),
        "server_cores": round(server_cores, 2),
        "other_load_cores": round(foreign_cores, 2),
        "busiest_process_cores": round(busiest_cores, 2),
        "one_process_limit_per_s": round(process_limit, 1),
        "cpu_limit_per_s": round(cpu_limit, 1),
        "share_of_limit": round(rate / min(concurrency_limit, cpu_limit), 3),
        "server_max_in_flight": server.stats()["max_in_flight"],
    }


def sweep_mode(problems: int, seeds: int, worker_counts=(1, 2), chunk_size: int | None = None,
               one_cold_run: bool = False) -> dict:  # fmt: skip
    """Each worker count cold then cached; with ``one_cold_run``, only the first worker count
    runs cold and every count's cached run uses its verdicts (the same programs: the sim answers
    a request the same way every time), which saves the cold runs' sandbox hours at 20,000 items."""
    figures: dict = {"latency_ms": LATENCY_MS, "max_concurrency": SWEEP_CONCURRENCY, "chunk_size": chunk_size or "automatic"}
    with tempfile.TemporaryDirectory(prefix="llm-bench-sweep-") as scratch:
        server = Server("--latency-ms", str(LATENCY_MS), "--benchmark", "humaneval")
        try:
            for workers in worker_counts:
                cache = f"cache-{worker_counts[0] if one_cold_run else workers}"
                labels = ("cached",) if one_cold_run and workers != worker_counts[0] else ("cold", "cached")
                for label in labels:
                    if label == "cached":  # same programs, so every verdict is a cache hit; but
                        for path in (Path(scratch) / cache).glob("responses.sqlite3*"):
                            path.unlink()  # no response is: every model call reaches the server
                    row = run_sweep(server, workers, problems, seeds, Path(scratch), label, chunk_size, cache)
                    figures[f"sweep_{workers}_workers_{label}_verdicts"] = row
                    limit = min(row["concurrency_limit_per_s"], row["cpu_limit_per_s"])
                    print(f"sweep, {workers} worker(s), {label} verdicts, {row['work_items']} items:"
                          f" {row['rate_per_s']} req/s = {100 * row['share_of_limit']:.1f}% of min(concurrency/latency"
                          f" {row['concurrency_limit_per_s']:.0f}, client CPU {row['cpu_limit_per_s']}) = {limit:.1f};"
                          f" client {row['client_cpu_ms_per_request']} ms CPU/request on"
                          f" {row['client_cores_available']} cores left by the server ({row['server_cores']})"
                          f" and other load ({row['other_load_cores']}); busiest process {row['busiest_process_cores']} cores"
                          f" (one process's limit {row['one_process_limit_per_s']}/s);"
                          f" {row['requests']} requests in"
                          f" {row['window_s']} s, server max in flight {row['server_max_in_flight']}", flush=True)  # fmt: skip
        finally:
            server.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=960, help="requests per worker")
    parser.add_argument("--rate-limit", type=float, default=50.0, help="N for the rate-limit run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--only", choices=("load", "calibration", "sweep"), help="run one part only")
    parser.add_argument("--sweep-problems", type=int, default=164, help="sweep mode: HumanEval problems")
    parser.add_argument("--sweep-seeds", type=int, default=2, help="sweep mode: seeds (items = problems x seeds)")
    parser.add_argument("--sweep-workers", default="1,2", help="sweep mode: worker counts to run, in order")
    parser.add_argument("--sweep-chunk-size", type=int, help="sweep mode: --chunk-size (default: automatic)")
    parser.add_argument("--sweep-one-cold-run", action="store_true",
                        help="sweep mode: only the first worker count runs cold; every cached run uses its verdicts")  # fmt: skip
    parser.add_argument("--no-turns", action="store_true", help="A/B: clients take no CPU turns")
    parser.add_argument("--openai-sdk", action="store_true",
                        help="A/B: OpenAI-compatible calls through the OpenAI SDK")  # fmt: skip
    options = parser.parse_args()
    global ABLATIONS
    ABLATIONS = tuple(name for name, on in (("no_turns", options.no_turns),
                                            ("openai_sdk", options.openai_sdk)) if on)  # fmt: skip
    figures: dict = {}
    if options.only == "sweep":
        worker_counts = tuple(int(count) for count in options.sweep_workers.split(","))
        figures = sweep_mode(options.sweep_problems, options.sweep_seeds, worker_counts, options.sweep_chunk_size,
                             options.sweep_one_cold_run)  # fmt: skip
        if options.json:
            options.json.write_text(json.dumps(figures, indent=2))
        return
    if options.only != "load":
        figures["calibration"] = calibration()
        for name, row in figures["calibration"].items():
            print(f"calibration {name}: " + ", ".join(f"{k} {v:.6g}" for k, v in row.items()))
        if options.only == "calibration":
            if options.json:
                options.json.write_text(json.dumps(figures, indent=2))
            return

    ideal_one = CONCURRENCY * 1000 / LATENCY_MS
    figures.update({"latency_ms": LATENCY_MS, "ideal_rate_one_worker": ideal_one,
                    "ablations": list(ABLATIONS)})  # fmt: skip
    if ABLATIONS:
        print("A/B run with: " + ", ".join(ABLATIONS))
    with tempfile.TemporaryDirectory(prefix="llm-bench-") as scratch:
        server = Server("--latency-ms", str(LATENCY_MS))
        try:
            cache_dir = str(Path(scratch) / "cache")
            one = run_workers(server, 1, options.requests, cache_dir=cache_dir)
            one["share_of_ideal"] = round(one["rate_per_s"] / ideal_one, 3)
            figures["one_worker"] = one
            print(f"1 worker x {CONCURRENCY}: {one['rate_per_s']} req/s of ideal {ideal_one:.0f}"
                  f" ({100 * one['share_of_ideal']:.1f}%), client CPU"
                  f" {one['client_cpu_ms_per_request']} ms/request (server {one['server_cpu_ms_per_request']}),"
                  f" errors {one['errors']}, load average {one['load_average_1min']}")  # fmt: skip

            calls_before = server.stats()["requests"]
            again = run_workers(server, 1, options.requests, cache_dir=cache_dir)
            calls_made = server.stats()["requests"] - calls_before - 1  # minus the warm-up call
            figures["cache_rerun"] = {
                **again,
                "model_calls": calls_made,
                "speedup": round(one["elapsed_s"] / again["elapsed_s"], 1),
            }
            print(f"cache re-run: {again['cache_hits']}/{again['requests']} hits, {calls_made}"
                  f" model calls, {again['elapsed_s']} s vs {one['elapsed_s']} s"
                  f" ({figures['cache_rerun']['speedup']}x faster)")  # fmt: skip

            two = run_workers(server, 2, options.requests)
            two["share_of_ideal"] = round(two["rate_per_s"] / (2 * ideal_one), 3)
            figures["two_workers"] = two
            print(f"2 workers x {CONCURRENCY}: {two['rate_per_s']} req/s of ideal"
                  f" {2 * ideal_one:.0f} ({100 * two['share_of_ideal']:.1f}%), client CPU"
                  f" {two['client_cpu_ms_per_request']} ms/request (server {two['server_cpu_ms_per_request']}),"
                  f" errors {two['errors']}, load average {two['load_average_1min']}")  # fmt: skip
        finally:
            server.stop()

        limit = options.rate_limit
        server = Server("--latency-ms", str(LATENCY_MS), "--rate-limit", str(limit))
        try:
            requests = int(limit * 6)
            limited = run_workers(server, 1, requests, rpm=limit * 60)
            stats = server.stats()
            limited["server_max_requests_in_1s"] = stats["max_requests_in_1s"]
            limited["server_429s"] = stats["by_status"].get("429", 0)
            limited["limit_per_s"] = limit
            figures["rate_limited"] = limited
            print(f"rate limit {limit:g}/s: {limited['rate_per_s']} req/s, server saw at most"
                  f" {limited['server_max_requests_in_1s']} in any 1 s window,"
                  f" {limited['server_429s']} x 429, load average {limited['load_average_1min']}")  # fmt: skip
        finally:
            server.stop()
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
