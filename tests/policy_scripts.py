"""Scripted parts for policy tests: a model that answers from a script and fails loudly when the
script runs out, and a verifier that answers from a function of (program, tests)."""

from __future__ import annotations

import asyncio
from collections import deque

from sandbox.types import AssertTests
from tasks.policies.driver import RoleModels, run_work_item
from tasks.records import Completion, DatasetInfo, HiddenSuite, ModelConfig, Problem, Verdict

MODELS = RoleModels(ModelConfig("scripted/gen"), ModelConfig("scripted/plan"))

PROBLEM = Problem(
    task_id="T/0",
    prompt='def f(x):\n    """Return x + 1.\n    >>> f(1)\n    2\n    """\n',
    entry_point="f",
    public_tests=AssertTests(asserts=("assert f(0) == 1",)),
    hidden_suites=(HiddenSuite("base", AssertTests(asserts=("assert f(5) == 6",))),),
    reference_solution="def f(x):\n    return x + 1\n",
    test_format="asserts",
    dataset=DatasetInfo("toy", "1", "0" * 64),
)


class ScriptRanOut(AssertionError):
    pass


class ScriptedModel:
    """Answers from a script per (role, kind); fails loudly when a script runs out."""

    def __init__(self, scripts: dict[tuple[str, str], list[str]]):
        self.scripts = {key: deque(answers) for key, answers in scripts.items()}
        self.requests: list[tuple[str, object]] = []

    async def complete(self, config, request):
        role = "generator" if config.model.endswith("gen") else "planner"
        self.requests.append((role, request))
        script = self.scripts.get((role, request.purpose))
        if not script:
            raise ScriptRanOut(f"script for {role}/{request.purpose} ran out")
        answer = script.popleft()
        if answer.startswith("ERROR"):
            return Completion(text="", input_tokens=0, output_tokens=0, latency_ms=1, error=answer)
        return Completion(text=answer, input_tokens=100, output_tokens=50, latency_ms=1.0)

    def left(self) -> dict:
        return {key: list(answers) for key, answers in self.scripts.items() if answers}

    def kinds(self, role: str | None = None) -> list[str]:
        return [r.purpose for who, r in self.requests if role is None or who == role]


def verdict(total: int, passed: int) -> Verdict:
    ok = total == passed
    return Verdict(ok, "passed" if ok else "failed", total, passed, "" if ok else "test: failed",
                   test_statuses=("passed",) * passed + ("failed",) * (total - passed))  # fmt: skip


class FunctionVerifier:
    """Public/generated verdicts from ``judge(program, tests)``; hidden: passed iff 'GOOD'."""

    def __init__(self, judge=None):
        self.judge = judge
        self.calls: list[tuple[str, object]] = []
        self.hidden_programs: list[str] = []

    def __call__(self, program, tests, time_limits_s):
        if any(tests is suite.tests for suite in PROBLEM.hidden_suites):
            self.hidden_programs.append(program)
            return verdict(1, 1) if "GOOD" in program else verdict(1, 0)
        self.calls.append((program, tests))
        if self.judge is None:
            raise AssertionError("no verification was scripted")
        return self.judge(program, tests)


def price_of(config, input_tokens, output_tokens):
    per_token = 1e-6 if config.model.endswith("gen") else 10e-6
    return (input_tokens + output_tokens) * per_token, 1.0


def run(spec, model, verifier, problem=PROBLEM, executor=None):
    return asyncio.run(
        run_work_item(
            run_id="r", problem=problem, spec=spec, seed=0, models=MODELS, client=model,
            verifier=verifier, price_of=price_of, executor=executor,
        )  # fmt: skip
    )


def code(body: str, name: str = "f", args: str = "x", extra: str = "") -> str:
    return f"Here you go:\n```python\ndef {name}({args}):\n    {body}\n{extra}```\n"
