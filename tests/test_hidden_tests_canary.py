"""Hidden tests never reach a policy.

A unique canary string is planted in every hidden suite (and only there) of every built-in
benchmark; every registered policy then runs against the real simulator through litellm and
the real sandbox, with its own verification feeding failures back to it. Not one model request
may contain the canary. The default run covers the first problems of each built-in; the slow
test covers every problem.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import uuid

import pytest

from sandbox.types import AssertTests, CallTests, CheckFunctionTests, StdioTests
from tasks.benchmarks import builtin_names, load_benchmark
from tasks.benchmarks.sources import BUILTIN_SOURCES
from tasks.policies import POLICIES as REGISTERED
from tasks.policies.driver import RoleModels, run_work_item
from tasks.records import HiddenSuite, ModelConfig, PolicySpec, Problem
from tasks.verification import verify

CANARY = f"CANARY-{uuid.uuid4().hex}"
MODELS = RoleModels(ModelConfig("sim/small"), ModelConfig("sim/large"))
POLICIES = tuple(PolicySpec(name) for name in sorted(REGISTERED))


def plant(tests):
    if isinstance(tests, CheckFunctionTests):
        return dataclasses.replace(tests, test_code=f"{tests.test_code}\n# {CANARY}\n")
    if isinstance(tests, AssertTests):
        return dataclasses.replace(tests, asserts=tests.asserts + (f"assert '{CANARY}'",))
    if isinstance(tests, CallTests):
        expected = None if tests.expected is None else tests.expected + (CANARY,)
        return dataclasses.replace(tests, inputs=tests.inputs + ((CANARY,),), expected=expected)
    if isinstance(tests, StdioTests):
        return dataclasses.replace(tests, cases=tests.cases + ((CANARY, CANARY),))
    raise AssertionError(f"unplanted test format {type(tests).__name__}")


def with_canary(problem: Problem) -> Problem:
    suites = tuple(HiddenSuite(s.name, plant(s.tests), None) for s in problem.hidden_suites)
    return dataclasses.replace(problem, hidden_suites=suites)


class RecordingClient:
    def __init__(self, inner):
        self.inner = inner
        self.sent: list[str] = []

    async def complete(self, config, request):
        self.sent.extend(content for _, content in request.messages)
        return await self.inner.complete(config, request)


def price_of(config, input_tokens, output_tokens):
    return 0.0, None


def sweep_with_canary(problems: list[Problem]) -> list[str]:
    from tasks.models import ModelClient
    from tasks.models.sim import register_problems

    register_problems(problems)
    client = RecordingClient(ModelClient(cache=None))

    def verifier(program, tests, time_limits_s):
        return verify(program, tests, time_limits_s=time_limits_s)

    async def run_all():
        slots = asyncio.Semaphore(4)
        work = [
            run_work_item(
                run_id="canary", problem=problem, spec=spec, seed=0, models=MODELS,
                client=client, verifier=verifier, price_of=price_of, verify_slots=slots,
            )
            for problem in problems
            for spec in POLICIES
        ]
        return await asyncio.gather(*work)

    results = asyncio.run(run_all())
    assert len(results) == len(problems) * len(POLICIES)
    if any(REGISTERED[spec.name].uses_planner for spec in POLICIES):
        assert any(call.role == "planner" for result in results for call in result.calls)
    return client.sent


# A cold first load of these computes ~160k expected outputs (minutes): the default test loads
# a slice of the same upstream file through the same EvalPlus loader instead.
EXPENSIVE_FIRST_LOAD = {"humaneval+", "mbpp+"}


def load_slice(name: str, count: int, datasets_dir, directory) -> list[Problem]:
    source = BUILTIN_SOURCES[name]
    with gzip.open(datasets_dir / source.subdir / source.file_name, "rt") as lines:
        rows = [json.loads(line) for _, line in zip(range(count), lines)]
    path = directory / f"{name}-first-{count}.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return list(load_benchmark(str(path)).problems)


def planted_problems(per_benchmark: int | None, datasets_dir=None, directory=None) -> list[Problem]:
    problems = []
    for name in builtin_names():
        if per_benchmark and name in EXPENSIVE_FIRST_LOAD:
            chosen = load_slice(name, per_benchmark, datasets_dir, directory)
        else:
            benchmark = load_benchmark(name)
            chosen = benchmark.problems[:per_benchmark] if per_benchmark else benchmark.problems
        for problem in chosen:
            planted = with_canary(problem)
            assert CANARY not in repr(planted.public_tests) and CANARY not in planted.prompt
            problems.append(planted)
    return problems


def test_canary_in_hidden_tests_never_reaches_a_model_request(shared_datasets, tmp_path):
    problems = planted_problems(4, shared_datasets, tmp_path)
    assert len({p.dataset.name for p in problems}) == len(builtin_names())
    assert {s.name for p in problems for s in p.hidden_suites} >= {"base", "plus"}
    sent = sweep_with_canary(problems)
    assert len(sent) >= 2 * len(problems) * len(POLICIES)  # system + user message at least
    assert not [text for text in sent if CANARY in text]


@pytest.mark.slow
def test_canary_never_reaches_a_model_request_over_every_builtin_problem(shared_datasets):
    sent = sweep_with_canary(planted_problems(per_benchmark=None))
    assert not [text for text in sent if CANARY in text]
