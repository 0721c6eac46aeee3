"""Where one sandbox execution's time goes: the figures behind BENCHMARKS.md's breakdown.

Prints, for a one-line program run one at a time through ``sandbox.execute``:
- wall time and the machine's CPU per execution, split into user and kernel time (from
  /proc/stat: the fork server and its jobs are not this process's children);
- the job's minor page faults by the time the program's function runs (the job reads its own
  /proc/self/stat), i.e. the copy-on-write faults of set-up after the fork;
- the cost of fork() + exit of a process that imported what the zygote imports, against a
  bare interpreter (both measured here, in children of this script).

    .venv/bin/python benchmarks/sandbox_cost.py [--executions 300] [--repo DIR]

``--repo`` measures another checkout's ``sandbox/`` with this script (e.g. an older commit:
``git worktree add /tmp/before ae3f5e5``), for before/after figures from one session.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if "--repo" in sys.argv[:-1]:
    REPO_ROOT = Path(sys.argv[sys.argv.index("--repo") + 1]).resolve()
sys.path.insert(0, str(REPO_ROOT))

from sandbox import execute  # noqa: E402
from sandbox.types import CallTests, CheckFunctionTests, ExecutionRequest, Limits  # noqa: E402

TRIVIAL = ExecutionRequest(
    "def f():\n    return 1\n", CheckFunctionTests("def check(candidate):\n    assert candidate() == 1\n", "f"), Limits()
)
FAULTS_PROGRAM = (
    "def faults():\n"
    "    fields = open('/proc/self/stat').read().rsplit(')', 1)[1].split()\n"
    "    return int(fields[7])\n"  # minflt
)
FORK_COST = r"""
import gc, importlib.util, os, sys, time
if sys.argv[1] == "zygote-like":
    if os.path.isdir(sys.argv[2]):  # the child package (sandbox/_child/): its server module
        sys.path.insert(0, sys.argv[2])
        import child_server as child
    else:  # an older checkout's single-file _child.py
        spec = importlib.util.spec_from_file_location("_child", sys.argv[2])
        child = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(child)
    child._preimport()
    getattr(child, "_warm_up", lambda: None)()
gc.collect()
gc.freeze()
def busy():
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    return fields[0] + fields[1] + fields[2]
n = 500
start_busy, start = busy(), time.perf_counter()
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
wall = (time.perf_counter() - start) / n * 1000
cpu = (busy() - start_busy) / os.sysconf("SC_CLK_TCK") / n * 1000
anon = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("RssAnon"))
print(f"{wall:.2f} {cpu:.2f} {anon}")
"""


def _proc_stat() -> list[int]:
    with open("/proc/stat") as handle:
        return [int(x) for x in handle.readline().split()[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=300)
    parser.add_argument("--repo", type=Path, default=None, help="measure this checkout's sandbox/ instead")
    args = parser.parse_args()
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    print(f"sandbox: {REPO_ROOT / 'sandbox'}; machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")

    for _ in range(5):
        execute(TRIVIAL)
    before, started = _proc_stat(), time.perf_counter()
    for _ in range(args.executions):
        assert execute(TRIVIAL).passed
    wall_ms = (time.perf_counter() - started) / args.executions * 1000
    delta = [(b - a) * tick_ms / args.executions for a, b in zip(before, _proc_stat())]
    print(
        f"one execution: {wall_ms:.2f} ms wall; machine CPU {delta[0] + delta[1]:.2f} ms user + "
        f"{delta[2]:.2f} ms kernel"
    )

    faults = [execute(ExecutionRequest(FAULTS_PROGRAM, CallTests("faults", ((),)), Limits())).outputs[0] for _ in range(20)]
    print(f"job's minor page faults before the program's function runs: median {statistics.median(faults):.0f}")

    child_script = str(REPO_ROOT / "sandbox" / "_child")
    if not os.path.isdir(child_script):
        child_script += ".py"
    for kind in ("bare", "zygote-like"):
        out = subprocess.run(
            [sys.executable, "-S", "-c", FORK_COST, kind, child_script], capture_output=True, text=True, check=True
        ).stdout.split()
        print(f"fork + exit of a {kind} interpreter ({out[2]} kB anonymous memory): {out[0]} ms wall, {out[1]} ms machine CPU")


if __name__ == "__main__":
    main()
