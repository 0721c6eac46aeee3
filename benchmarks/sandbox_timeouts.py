"""Sandbox-seconds spent on timeouts, with and without the CPU accounting that skips re-checks.

A timeout used to be re-checked once, always (the sample ran again under a machine-wide lock):
each timed-out verification paid its limit twice. Now the sandbox reports whether the timed-out
process waited for a core (``ExecutionResult.timeout_starved``); ``verify`` re-checks only a
starved or unaccounted timeout. This script runs the same samples through ``verify`` twice in
one process, alternating per sample: under the old rule (every timeout re-checked) and the new
one, and prints the sandbox-seconds each spent (every ``sandbox.execute`` call timed).

Samples: the first N MBPP problems' references (they pass), and two mutants of each that
never finish: one computes forever (``while True: pass``), one sleeps. Per-test limit
``--limit-s`` (default 1 s) for every sample.

    .venv/bin/python benchmarks/sandbox_timeouts.py [--problems 20] [--limit-s 1.0]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PATFLOW_DATA_DIR", str(REPO_ROOT.parent / "shared" / "datasets"))
sys.path.insert(0, str(REPO_ROOT))

import sandbox  # noqa: E402
from tasks import verification  # noqa: E402
from tasks.benchmarks import load_benchmark  # noqa: E402

_rule = {"always": False}
_spent = {"always": 0.0, "starved only": 0.0}
_calls = {"always": 0, "starved only": 0}
_real_execute = sandbox.execute


def _timed_execute(request):
    started = time.perf_counter()
    result = _real_execute(request)
    rule = "always" if _rule["always"] else "starved only"
    _spent[rule] += time.perf_counter() - started
    _calls[rule] += 1
    if _rule["always"]:
        result = dataclasses.replace(result, timeout_starved=None)  # the old rule: never accounted
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=20)
    parser.add_argument("--limit-s", type=float, default=1.0)
    args = parser.parse_args()
    problems = load_benchmark("mbpp").problems[: args.problems]
    samples = []
    for problem in problems:
        suite = problem.hidden_suites[0]
        entry = problem.entry_point
        samples.append(("reference", problem.reference_solution, suite))
        samples.append(("computes forever", f"def {entry}(*args, **kwargs):\n    while True:\n        pass\n", suite))
        samples.append(("sleeps", f"import time\ndef {entry}(*args, **kwargs):\n    time.sleep(3600)\n", suite))
    sandbox.execute = _timed_execute
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; {len(samples)} samples", flush=True)
    counts = {"always": {}, "starved only": {}}

    def run(sample, always: bool):
        kind, program, suite = sample
        _rule["always"] = always
        limits = (args.limit_s,) * len(suite.time_limits_s) if suite.time_limits_s else None
        verdict = verification.verify(program, suite.tests, limits, limits=sandbox.Limits(timeout_s=args.limit_s))
        key = (kind, verdict.status)
        table = counts["always" if always else "starved only"]
        table[key] = table.get(key, 0) + 1

    for sample in samples:  # alternating per sample, so both rules see the same load
        run(sample, True)
        run(sample, False)
    for rule in ("always", "starved only"):
        print(
            f"re-check {rule:>12}: {_spent[rule]:7.1f} sandbox-seconds in {_calls[rule]} executions"
            f" ({_calls[rule] - len(samples)} re-checks); verdicts {sorted(counts[rule].items())}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
