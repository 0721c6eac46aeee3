"""Check a benchmark against its own reference solutions (and against broken ones).

``check_references`` runs every problem's reference solution on its public tests and on each
hidden suite through ``tasks.verification.verify`` (the same path a policy's program takes),
and reports per problem which suites passed. With ``mutate=True`` the reference is replaced
by one whose entry point returns ``None`` (for stdin/stdout problems: a program that prints
nothing), which must fail every hidden suite: a suite a broken program passes tests nothing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable

from tasks.records import Problem

HARNESS_ERROR = "harness_error:"  # verify() raised: a bug in the harness, not in the program


@dataclass(frozen=True)
class ProblemCheck:
    task_id: str
    public_passed: bool | None  # None: the problem has no public tests
    suites: tuple[tuple[str, bool, str], ...]  # (suite, passed, status + first failure)

    @property
    def hidden_passed(self) -> bool:
        return bool(self.suites) and all(passed for _name, passed, _detail in self.suites)

    @property
    def harness_errors(self) -> int:
        return sum(detail.startswith(HARNESS_ERROR) for _name, _passed, detail in self.suites)

    @property
    def any_hidden_passed(self) -> bool:
        return any(passed for _name, passed, _detail in self.suites)


def mutated_program(problem: Problem) -> str:
    if not problem.entry_point:
        return "pass\n"
    return (problem.reference_solution or "") + (
        f"\n\ndef {problem.entry_point}(*args, **kwargs):\n    return None\n"
    )


def check_references(
    problems: Iterable[Problem],
    *,
    mutate: bool = False,
    workers: int = 2,
    on_done: Callable[[ProblemCheck], None] | None = None,
) -> list[ProblemCheck]:
    from tasks.verification import verify

    def check(problem: Problem) -> ProblemCheck:
        program = mutated_program(problem) if mutate else problem.reference_solution or ""
        public_passed = None
        if problem.public_tests is not None:
            try:
                public_passed = verify(program, problem.public_tests).passed
            except Exception:  # noqa: BLE001 - counted as a harness error below, never a pass
                public_passed = False
        suites = []
        for suite in problem.hidden_suites:
            try:
                verdict = verify(program, suite.tests, suite.time_limits_s or _default_limits(problem, suite))
            except Exception as error:  # noqa: BLE001 - verify must not raise: report, never pass
                suites.append((suite.name, False, f"{HARNESS_ERROR} {type(error).__name__}: {str(error)[:200]}"))
                continue
            suites.append((suite.name, verdict.passed, f"{verdict.status} {verdict.first_failure}".strip()))
        result = ProblemCheck(problem.task_id, public_passed, tuple(suites))
        if on_done is not None:
            on_done(result)
        return result

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(check, [p for p in problems if p.reference_solution is not None or mutate]))


def _default_limits(problem: Problem, suite) -> tuple[float, ...]:
    from tasks.benchmarks.reference_runs import test_count

    return (problem.time_limit_s,) * test_count(suite.tests)
