"""Check a benchmark against its own reference solutions (and against broken ones).

``check_references`` runs every problem's reference solution on its public tests and scores it
on the hidden suites with ``tasks.scoring.score_program`` through ``tasks.verification.verify``
(the same path, time limits and import preamble a policy's program and ``patflow evaluate``
take), and reports per problem which suites passed. With ``mutate=True`` the reference is replaced
by one whose entry point returns ``None`` (for stdin/stdout problems: a program that prints
nothing), which must fail every hidden suite: a suite a broken program passes tests nothing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable

from tasks.preamble import DEFAULT_IMPORTS, check_imports_mode
from tasks.records import Problem
from tasks.scoring import HARNESS_ERROR as SCORING_HARNESS_ERROR
from tasks.scoring import public_time_limits, score_program

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
    imports: str = DEFAULT_IMPORTS,
    on_done: Callable[[ProblemCheck], None] | None = None,
) -> list[ProblemCheck]:
    from tasks.verification import verify

    check_imports_mode(imports)

    def verify_with_settings(program: str, tests, time_limits_s):
        return verify(program, tests, time_limits_s, imports=imports)

    def check(problem: Problem) -> ProblemCheck:
        program = mutated_program(problem) if mutate else problem.reference_solution or ""
        public_passed = None
        if problem.public_tests is not None:
            try:
                public_passed = verify_with_settings(program, problem.public_tests, public_time_limits(problem)).passed
            except Exception:  # noqa: BLE001 - counted as a harness error below, never a pass
                public_passed = False
        score = score_program(program, problem, verify_with_settings)
        suites = tuple(
            (s.suite, s.verdict.passed, _detail(s.verdict.status, s.verdict.first_failure)) for s in score.suites
        )
        result = ProblemCheck(problem.task_id, public_passed, suites)
        if on_done is not None:
            on_done(result)
        return result

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(check, [p for p in problems if p.reference_solution is not None or mutate]))


def _detail(status: str, first_failure: str) -> str:
    if status == SCORING_HARNESS_ERROR:
        return f"{HARNESS_ERROR} {first_failure}"
    return f"{status} {first_failure}".strip()
