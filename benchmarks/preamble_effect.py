"""What the import preamble (``imports=none|standard``) does to pass counts, per built-in.

For each benchmark, three sets of programs are scored the way ``patflow evaluate`` scores
(``tasks.evaluation.evaluate_samples`` -> ``tasks.scoring.score_program``), once per mode:
- ``reference``: the dataset's reference solutions (all must pass in both modes);
- ``reference, imports removed``: the same with every ``import`` / ``from ... import`` line
  deleted (for HumanEval-style problems only from the part after the prompt, which a model
  writes) — a stand-in for model-written solutions that rely on a harness's preamble;
- ``return None``: the entry point replaced by one returning None (none may pass).

    PATFLOW_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/preamble_effect.py [names...]

First prints the preamble's own cost (median ms per tiny verification, both modes interleaved).
Then one line per (benchmark, program set): programs, how many the set changed, passes with
``none`` and with ``standard``, and wall seconds per mode; then which stripped references still
fail under ``standard`` and the name they miss.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.benchmarks import builtin_names, load_benchmark  # noqa: E402
from tasks.benchmarks.selfcheck import mutated_program  # noqa: E402
from tasks.evaluation import Sample, evaluate_samples  # noqa: E402
from tasks.preamble import IMPORT_MODES  # noqa: E402
from tasks.records import Problem  # noqa: E402
from tasks.verification import verify  # noqa: E402

IMPORT_LINE = re.compile(r"^[ \t]*(import [\w.]|from (?!__future__)[\w.]+ import )")
MISSING_NAME = re.compile(r"name '(\w+)' is not defined")


def strip_imports(problem: Problem) -> str:
    """The reference without its import lines; a HumanEval-style prompt (the part a model is
    given, ``completion_prefix``) keeps its own."""
    program = problem.reference_solution or ""
    prefix = problem.completion_prefix if program.startswith(problem.completion_prefix) else ""
    body = program[len(prefix):]
    kept = [line for line in body.splitlines(keepends=True) if not IMPORT_LINE.match(line)]
    return prefix + "".join(kept)


def program_sets(problems: list[Problem]) -> dict[str, list[Sample]]:
    with_reference = [p for p in problems if p.reference_solution is not None]
    return {
        "reference": [Sample(i, p.task_id, p.reference_solution) for i, p in enumerate(with_reference)],
        "reference, imports removed": [Sample(i, p.task_id, strip_imports(p)) for i, p in enumerate(with_reference)],
        "return None": [Sample(i, p.task_id, mutated_program(p)) for i, p in enumerate(problems)],
    }


def preamble_cost(rounds: int) -> None:
    """Per-verification cost of the preamble: one tiny CallTests run, modes interleaved."""
    from sandbox.types import CallTests

    tests = CallTests("f", ((1,),), (2,))
    durations: dict[str, list[float]] = {mode: [] for mode in IMPORT_MODES}
    for round_index in range(rounds):
        for mode in IMPORT_MODES[:: 1 if round_index % 2 else -1]:  # alternate who goes first
            started = time.perf_counter()
            assert verify("def f(x):\n    return x + 1\n", tests, imports=mode).passed
            durations[mode].append((time.perf_counter() - started) * 1000)
    medians = {mode: statistics.median(values) for mode, values in durations.items()}
    print("preamble cost, median ms per verification over "
          f"{rounds} rounds: " + ", ".join(f"{mode} {ms:.2f}" for mode, ms in medians.items())
          + f" (difference {medians['standard'] - medians['none']:+.2f} ms)", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="built-in benchmarks (default: all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--cost-rounds", type=int, default=200, help="rounds of the per-verification cost probe")
    args = parser.parse_args(argv)
    if args.cost_rounds:
        preamble_cost(args.cost_rounds)
    failed = False
    for name in args.names or builtin_names():
        started = time.perf_counter()
        benchmark = load_benchmark(name)
        problems = list(benchmark.problems)
        by_id = {p.task_id: p for p in problems}
        print(f"{name}: {len(problems)} problems, loaded in {time.perf_counter() - started:.1f}s", flush=True)
        sets = program_sets(problems)
        references = {s.task_id: s.program for s in sets["reference"]}
        still_failing: Counter = Counter()
        for label, samples in sets.items():
            changed = sum(s.program != references.get(s.task_id) for s in samples)
            passes, seconds, rows_by_mode = {}, {}, {}
            for mode in IMPORT_MODES:
                started = time.perf_counter()
                rows = evaluate_samples(samples, by_id, functools.partial(verify, imports=mode), args.workers,
                                        imports=mode)
                seconds[mode] = time.perf_counter() - started
                passes[mode] = sum(row["passed"] for row in rows)
                rows_by_mode[mode] = rows
            print(
                f"  {label:28} programs {len(samples):4}  changed {changed:4}  "
                + "  ".join(f"{mode} {passes[mode]:4} ({seconds[mode]:.0f}s)" for mode in IMPORT_MODES),
                flush=True,
            )
            if label == "reference":
                failed |= any(passes[mode] != len(samples) for mode in IMPORT_MODES)
                for mode in IMPORT_MODES:
                    for row in rows_by_mode[mode]:
                        if not row["passed"]:
                            print(f"    reference FAIL ({mode}) {row['task_id']}: {row['status']} {row['first_failure']}")
            if label == "return None":
                failed |= any(passes[mode] for mode in IMPORT_MODES)
            if label == "reference, imports removed":
                for row in rows_by_mode["standard"]:
                    if not row["passed"]:
                        missing = MISSING_NAME.search(row["first_failure"] or "")
                        still_failing[missing.group(1) if missing else row["status"]] += 1
        if still_failing:
            print(f"  imports removed, still failing under standard: {dict(still_failing.most_common())}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
