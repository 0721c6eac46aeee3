"""Per policy: model calls, sandbox executions and wall time per item, and the engine's share.

    .venv/bin/python benchmarks/policy_bench.py [--problems 40] [--policies standard,pat,best_of_n,codet,self_debug,funcoder] [--no-loops]

The simulator answers in-process with no latency (``sim/small`` generator, ``sim/large``
planner) and the sandbox is the real one. Items run one after another, so the time spent in
the driver's actions (model calls, verification, scoring) never overlaps; the engine's own time
is the rest of the wall time: the policy's transitions, reading code back, the driver's loop
and its event records. Target: under 5 % of the wall time. ``--no-loops`` sets the simulator's
endless-loop mutation weight to 0, to show what candidates that never terminate cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from tasks.benchmarks import load_benchmark
from tasks.models import ModelClient
from tasks.models.sim import register_problems
from tasks.policies import driver, parse_policy_spec
from tasks.policies.driver import RoleModels, run_work_item
from tasks.records import ModelConfig
from tasks.sweep import _price_of
from tasks.verification import verify

MODELS = RoleModels(ModelConfig("sim/small"), ModelConfig("sim/large"))


class ActionClock:
    """Wall time inside the driver's actions, patched around the performer's methods."""

    def __init__(self):
        self.seconds = 0.0
        self.sandbox_runs = 0

    def wrap(self, function):
        async def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def bench_policy(spec_text: str, problems, seed: int = 0) -> dict:
    spec = parse_policy_spec(spec_text)
    clock = ActionClock()
    performer = driver._Performer
    originals = {name: getattr(performer, name) for name in ("generate", "verify", "execute")}
    original_score = driver.score_hidden
    runs = [0]

    def counted_verifier(program, tests, limits):
        runs[0] += 1
        return verify(program, tests, time_limits_s=limits)

    for name, method in originals.items():
        setattr(performer, name, clock.wrap(method))
    driver.score_hidden = clock.wrap(original_score)
    client = ModelClient(cache=None)

    async def run_all():
        results = []
        for problem in problems:
            results.append(await run_work_item(
                run_id="bench", problem=problem, spec=spec, seed=seed, models=MODELS,
                client=client, verifier=counted_verifier, price_of=_price_of,
            ))  # fmt: skip
        await client.aclose()
        return results

    try:
        started = time.perf_counter()
        results = asyncio.run(run_all())
        wall_s = time.perf_counter() - started
    finally:
        for name, method in originals.items():
            setattr(performer, name, method)
        driver.score_hidden = original_score
    items = len(results)
    engine_s = max(0.0, wall_s - clock.seconds)
    return {
        "policy": spec.label,
        "items": items,
        "passed": sum(r.outcome.passed for r in results),
        "root_trial_failed_share": round(sum(r.outcome.root_trial_passed is False for r in results) / items, 4),
        "model_calls_per_item": round(sum(len(r.calls) for r in results) / items, 2),
        "sandbox_executions_per_item": round(runs[0] / items, 2),
        "wall_ms_per_item": round(1000 * wall_s / items, 1),
        "engine_ms_per_item": round(1000 * engine_s / items, 2),
        "engine_share": round(engine_s / wall_s, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=40, help="First N HumanEval problems.")
    parser.add_argument(
        "--policies", default="standard,pat,best_of_n,codet,self_debug,funcoder", help="Comma-separated policy specs."
    )
    parser.add_argument("--no-loops", action="store_true", help="No endless-loop mutations in the simulator.")
    options = parser.parse_args()
    if options.no_loops:
        from tasks.models import sim

        sim.MUTATION_WEIGHTS["infinite_loop"] = 0.0
    problems = load_benchmark("humaneval").problems[: options.problems]
    register_problems(problems)
    for spec_text in options.policies.split(","):
        print(json.dumps(bench_policy(spec_text, problems)))


if __name__ == "__main__":
    main()
