"""Time loading each built-in benchmark: first load (cold cache) and second load (cached).

    PATFLOW_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/dataset_load_bench.py [--cold] [names...]

Without ``--cold`` the user cache (``PATFLOW_DATASET_CACHE_DIR`` or ``~/.cache/patflow``) is used as it
is, so "first" is only cold if nothing was cached yet. With ``--cold`` a fresh temporary cache
directory is used, so "first" includes running every reference solution in the sandbox.
Each load runs in a fresh interpreter, so import time is excluded and nothing stays in memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
from tasks.benchmarks import load_benchmark
started = time.perf_counter()
benchmark = load_benchmark(sys.argv[1])
elapsed = time.perf_counter() - started
tests = 0
for p in benchmark.problems:
    for s in p.hidden_suites:
        t = s.tests
        tests += len(getattr(t, "inputs", None) or getattr(t, "asserts", None) or getattr(t, "cases", None) or (1,))
print(json.dumps({"seconds": elapsed, "problems": len(benchmark.problems), "hidden_tests": tests}))
"""


def _load_once(name: str, env: dict) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, name], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(REPO))
    from tasks.benchmarks import builtin_names

    cold = "--cold" in argv
    names = [a for a in argv if not a.startswith("--")] or builtin_names()
    env = dict(os.environ)
    shared = REPO.parent / "shared" / "datasets"
    if "PATFLOW_DATA_DIR" not in env and shared.is_dir():
        env["PATFLOW_DATA_DIR"] = str(shared)
    if cold:
        env["PATFLOW_DATASET_CACHE_DIR"] = tempfile.mkdtemp(prefix="patflow-cold-cache-")
    print(f"{'benchmark':16} {'problems':>8} {'hidden tests':>12} {'first s':>9} {'second s':>9}")
    for name in names:
        first = _load_once(name, env)
        second = _load_once(name, env)
        print(f"{name:16} {first['problems']:>8} {first['hidden_tests']:>12} {first['seconds']:>9.2f} {second['seconds']:>9.2f}",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
