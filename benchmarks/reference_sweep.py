"""Full reference-solution sweep over the built-in benchmarks (slow: minutes per dataset).

For each built-in: load it (timing the load), verify every reference solution on its public
tests and every hidden suite, then verify the mutated references (entry point returns None)
and count how many hidden suites they pass (must be 0). Prints one summary line per dataset
and every failing task with its first failure.

    PATFLOW_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/reference_sweep.py [names...]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.benchmarks import UPSTREAM_DATA_BUGS, builtin_names, load_benchmark  # noqa: E402
from tasks.benchmarks.selfcheck import check_references  # noqa: E402


def main(names: list[str]) -> int:
    workers = os.cpu_count() or 2
    failed_any = False
    for name in names or builtin_names():
        started = time.perf_counter()
        benchmark = load_benchmark(name)
        load_s = time.perf_counter() - started
        problems = benchmark.problems
        tests = sum(_count(s.tests) for p in problems for s in p.hidden_suites)
        started = time.perf_counter()
        good = check_references(problems, workers=workers)
        good_s = time.perf_counter() - started
        bad = check_references(problems, mutate=True, workers=workers)
        reference_failures = [c for c in good if not c.hidden_passed and f"{name}:{c.task_id}" not in UPSTREAM_DATA_BUGS]
        public_failures = [c for c in good if c.public_passed is False]
        mutant_passes = [c for c in bad if c.hidden_passed]  # a mutant passing every suite
        weak_suites = [(c.task_id, name) for c in bad for name, passed, _detail in c.suites if passed]
        harness_errors = [c for c in good + bad if c.harness_errors]
        with_public = sum(p.public_tests is not None for p in problems)
        print(
            f"{name}: {len(problems)} problems, {tests} hidden tests, public tests on {with_public}; "
            f"load {load_s:.1f}s; references pass hidden {sum(c.hidden_passed for c in good)}/{len(good)} "
            f"(public {sum(c.public_passed is True for c in good)}/{with_public}) in {good_s:.0f}s; "
            f"mutants passing: {len(mutant_passes)} (single suites a mutant passes: {weak_suites or 'none'}); "
            f"harness errors (verify raised): {len(harness_errors)}",
            flush=True,
        )
        for check in reference_failures + public_failures:
            print(f"  reference FAIL {check.task_id}: public={check.public_passed} {check.suites}")
        for check in mutant_passes:
            print(f"  mutant PASS {check.task_id}: {check.suites}")
        for check in harness_errors:
            print(f"  HARNESS ERROR {check.task_id}: {check.suites}")
        failed_any |= bool(reference_failures or public_failures or mutant_passes or harness_errors)
    return 1 if failed_any else 0


def _count(tests) -> int:
    from tasks.benchmarks.reference_runs import test_count

    return test_count(tests)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
