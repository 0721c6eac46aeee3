"""Drive a policy's pure ``step`` from scripts, with no driver, model or sandbox: every action
is answered from a script keyed by what the action asks, and a script that runs out (or an
action nobody scripted) fails the test loudly."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from sandbox.types import AssertTests, CallTests
from tasks.policies.engine import (
    CandidateOutputs,
    Executed,
    Execute,
    Generate,
    Generated,
    Submit,
    Verified,
    Verify,
)
from tasks.records import DatasetInfo, HiddenSuite, Problem, Verdict

PROBLEM = Problem(
    task_id="T/0",
    prompt='def f(x):\n    """Return x + 1.\n    >>> f(1)\n    2\n    """\n',
    entry_point="f",
    public_tests=AssertTests(asserts=("assert f(0) == 1", "assert f(1) == 2")),
    hidden_suites=(HiddenSuite("base", AssertTests(asserts=("assert f(5) == 6",))),),
    reference_solution="def f(x):\n    return x + 1\n",
    test_format="asserts",
    dataset=DatasetInfo("toy", "1", "0" * 64),
)


class ScriptRanOut(AssertionError):
    pass


def code(body: str, name: str = "f", args: str = "x") -> str:
    """A model answer holding one implementation of ``name``."""
    return f"Here you go.\n\n```python\ndef {name}({args}):\n    {body}\n```\n"


def verdict_of(statuses: tuple[str, ...]) -> Verdict:
    passed = sum(1 for s in statuses if s == "passed")
    ok = bool(statuses) and passed == len(statuses)
    first_bad = next((i for i, s in enumerate(statuses) if s != "passed"), None)
    detail = "" if first_bad is None else f"test {first_bad}: {statuses[first_bad]}: expected 1, got 0"
    return Verdict(ok, "passed" if ok else statuses[first_bad], len(statuses), passed, detail,
                   test_statuses=tuple(statuses))  # fmt: skip


@dataclass
class Steps:
    """Scripts: ``answers[kind]`` a queue of sample tuples (one per Generate of that kind);
    ``verify(action) -> tuple[Verdict, ...]``; ``execute(action) -> tuple[CandidateOutputs, ...]``."""

    answers: dict[str, list[tuple[str, ...]]]
    verify: object = None
    execute: object = None
    actions: list = field(default_factory=list)

    def run(self, policy, problem: Problem = PROBLEM, seed: int = 0, max_steps: int = 2000) -> Submit:
        queues = {kind: deque(samples) for kind, samples in self.answers.items()}
        state = policy.start(problem, seed)
        observation = None
        for _ in range(max_steps):
            state, action = policy.step(state, observation)
            self.actions.append(action)
            if isinstance(action, Submit):
                left = {kind: list(q) for kind, q in queues.items() if q}
                assert not left, f"policy submitted with unused script answers: {left}"
                return action
            observation = self._answer(action, queues)
        raise AssertionError(f"policy did not submit within {max_steps} steps")

    def _answer(self, action, queues):
        if isinstance(action, Generate):
            queue = queues.get(action.kind)
            if not queue:
                raise ScriptRanOut(f"no scripted answer left for a {action.kind!r} request")
            texts = tuple(queue.popleft())
            if len(texts) != action.n:
                raise AssertionError(f"{action.kind}: script has {len(texts)} samples, action asks {action.n}")
            return Generated(texts, tuple(None if t != "ERROR" else "model failed" for t in texts))
        if isinstance(action, Verify):
            if self.verify is None:
                raise ScriptRanOut("a Verify nobody scripted")
            return Verified(tuple(self.verify(action)))
        if isinstance(action, Execute):
            if self.execute is None:
                raise ScriptRanOut("an Execute nobody scripted")
            return Executed(tuple(self.execute(action)))
        raise AssertionError(f"unknown action {action!r}")

    def of(self, kind) -> list:
        return [a for a in self.actions if isinstance(a, kind)]

    def kinds(self) -> list[str]:
        return [a.kind for a in self.actions if isinstance(a, Generate)]


def by_program(table: dict[str, tuple[str, ...]]):
    """A verify script: each program's per-test statuses, looked up by a marker in its text."""

    def verify(action: Verify):
        size = len(action.tests.asserts) if isinstance(action.tests, AssertTests) else len(action.tests.inputs)
        verdicts = []
        for program in action.programs:
            marker = next((m for m in table if m in program), None)
            if marker is None:
                raise ScriptRanOut(f"no scripted verdict for program {program!r}")
            statuses = table[marker]
            assert len(statuses) == size, f"{marker}: {len(statuses)} statuses for {size} tests"
            verdicts.append(verdict_of(statuses))
        return verdicts

    return verify


def outputs_by_program(table: dict[str, tuple]):
    """An execute script: each program's outputs per input (``CRASH`` for a raising call)."""

    def execute(action: Execute):
        assert isinstance(action.tests, CallTests) and action.tests.expected is None
        result = []
        for program in action.programs:
            marker = next((m for m in table if m in program), None)
            if marker is None:
                raise ScriptRanOut(f"no scripted outputs for program {program!r}")
            values = table[marker]
            offset = len(values) - len(action.tests.inputs)  # a resumed run: the last inputs
            assert offset >= 0, (marker, action.tests.inputs)
            values = values[offset:]
            statuses = [_STATUS.get(id(v), "passed") for v in values]
            if action.stop_at_timeout and "timeout" in statuses:
                stop = statuses.index("timeout")
                statuses[stop + 1 :] = ["no_result"] * (len(statuses) - stop - 1)
            result.append(CandidateOutputs(
                tuple(statuses), tuple(v if s == "passed" else None for v, s in zip(values, statuses))))
        return result

    return execute


CRASH = object()  # the call raised
LOOP = object()  # the call never returned: a timeout
_STATUS = {id(CRASH): "error:ValueError", id(LOOP): "timeout"}
