"""Large outputs and many-input suites through the sandbox: wall time and the caller's memory.

For a few HumanEval+ tasks whose canonical solutions return large values (a million numbers for
/100 and /130, 7 MB strings for /15, 3-million-bit ints for /83) and one ordinary
thousand-input task (/0), runs the canonical solution on the plus inputs through
``sandbox.execute`` (every input, as patflow's verification does) and prints, per task, the
median wall time and how far the calling process's resident memory rose during the run
(sampled every 5 ms; each measurement in a fresh process), next to the solution's own compute time in-process.

With ``--repo DIR`` the same measurements run, alternating, against another checkout's
``sandbox/`` (e.g. ``git worktree add /tmp/before cfa170e``): before/after from one session.

    .venv/bin/python benchmarks/sandbox_large_outputs.py [--rounds 3] [--repo DIR] [--tasks 130,100,15,83,0]

EvalPlus's expected outputs come from its ground truth (``get_groundtruth``, cached); the data
is read from ``../shared/datasets`` (``HUMANEVAL_OVERRIDE_PATH``). Needs the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("PATFLOW_DATA_DIR", REPO_ROOT.parent / "shared" / "datasets"))
os.environ.setdefault("HUMANEVAL_OVERRIDE_PATH", str(DATASETS / "evalplus" / "HumanEvalPlus-v0.1.10.jsonl.gz"))

MEASURE_ONE = r"""
import copy, json, os, sys, threading, time
root, task_id = sys.argv[1], sys.argv[2]
sys.path.insert(0, root)
from evalplus.data import get_human_eval_plus, get_human_eval_plus_hash
from evalplus.evaluate import get_groundtruth
from sandbox import execute
from sandbox.types import CallTests, ExecutionRequest, Limits

problem = get_human_eval_plus()[task_id]
truth = get_groundtruth({task_id: problem}, get_human_eval_plus_hash(), [])[task_id]
program = problem["prompt"] + problem["canonical_solution"]
tests = CallTests(
    problem["entry_point"], tuple(tuple(a) for a in problem["plus_input"]),
    expected=tuple(truth["plus"]), atol=problem["atol"],
)
limits_s = [max(1.0, 4.0 * t) for t in truth["plus_time"]]  # EvalPlus's limits
execute(ExecutionRequest("def f():\n    return 1\n", CallTests("f", ((),), expected=(1,)), Limits()))  # fork server up


def resident_mb():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


peak = [resident_mb()]
rss_before = peak[0]
running = threading.Event()
running.set()


def sample():  # the loading above peaked higher than a run does: sample the run's own peak
    while running.is_set():
        peak[0] = max(peak[0], resident_mb())
        time.sleep(0.005)


sampler = threading.Thread(target=sample)
sampler.start()
started = time.perf_counter()
result = execute(ExecutionRequest(program, tests, Limits(timeout_s=5.0), time_limits_s=limits_s))
wall_s = time.perf_counter() - started
running.clear()
sampler.join()
rss_growth_mb = peak[0] - rss_before
namespace = {}  # the solution's own compute, after the peak above is read
exec(program, namespace)
function = namespace[problem["entry_point"]]
inputs = copy.deepcopy(problem["plus_input"])
started = time.perf_counter()
for args in inputs:
    function(*args)
compute_s = time.perf_counter() - started
print(json.dumps({"status": result.status, "wall_s": wall_s, "compute_s": compute_s, "rss_growth_mb": rss_growth_mb,
                  "inputs": len(tests.inputs)}))
"""


def measure(root: Path, task_id: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", MEASURE_ONE, str(root), task_id], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="measurements per task and checkout; medians printed")
    parser.add_argument("--repo", type=Path, default=None, help="also measure this checkout's sandbox/, alternating")
    parser.add_argument("--tasks", default="130,100,15,83,0", help="HumanEval+ task numbers")
    args = parser.parse_args()
    roots = {"patflow": REPO_ROOT} | ({"--repo": args.repo.resolve()} if args.repo else {})
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    for number in args.tasks.split(","):
        task_id = f"HumanEval/{number}"
        runs: dict[str, list[dict]] = {name: [] for name in roots}
        for _ in range(args.rounds):
            for name, root in roots.items():
                runs[name].append(measure(root, task_id))
        for name, measured in runs.items():
            statuses = sorted({m["status"] for m in measured})
            print(
                f"{task_id} ({measured[0]['inputs']} plus inputs) {name}: "
                f"wall {statistics.median(m['wall_s'] for m in measured):.2f} s"
                f" (range {min(m['wall_s'] for m in measured):.2f}-{max(m['wall_s'] for m in measured):.2f})"
                f" | solution's own compute {statistics.median(m['compute_s'] for m in measured):.2f} s"
                f" | caller's peak RSS +{statistics.median(m['rss_growth_mb'] for m in measured):.0f} MB"
                f" | {','.join(statuses)}",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
