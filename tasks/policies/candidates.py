"""What the sampling policies (best_of_n, codet, self_debug, funcoder) share: turning model
answers into candidate programs and test suites, and test results into per-candidate tallies.

Pure functions over text and records. Where the tests come from is the policies' ``tests``
parameter: ``generated`` (written by the generator, the references' setting), ``public`` (the
dataset's examples) or ``both``. Hidden tests never appear here: a policy is handed only
``problem.public_tests`` and what its own model calls wrote.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from sandbox.types import PASSED, AssertTests, CallTests, TestSpec
from tasks.policies.common import root_generate
from tasks.policies.engine import GENERATOR, Generate, NodeRef, Verified, Verify
from tasks.policies.params import Param
from tasks.policies.program import prompt_imports, with_imports
from tasks.prompts import function_signature, read_code, render
from tasks.records import Problem, Verdict

TESTS_PARAM = Param(
    "tests",
    str,
    "generated",
    "where the tests a candidate is checked on come from",
    source="issue #11 (the references write their own tests)",
    choices=("generated", "public", "both"),
)
TEST_RETRIES = 3  # test-writing calls re-asked when nothing parses (PaT make_test.py, FunCoder fc_retries)


# --------------------------------------------------------------------------- candidates
def candidate_programs(problem: Problem, texts: Sequence[str], target: str | None = None) -> tuple[str, ...]:
    """The usable programs among sample answers: code that defines the target, implemented,
    with the prompt's signature where the prompt shows one; the prompt's imports prepended."""
    name = problem.entry_point if target is None else target
    signature = function_signature(problem.prompt, name) if name else None
    imports = prompt_imports(problem.prompt)
    programs = []
    for text in texts:
        extracted = read_code(text, name, signature)
        if extracted.ok:
            programs.append(with_imports(imports, extracted.code))
    return tuple(programs)


def generate_action(problem: Problem, n: int, temperature: float, node: NodeRef = NodeRef()) -> Generate:
    """The generator's request for the whole problem (a function, or a stdin/stdout program)."""
    return root_generate(problem, n, temperature, node)


def writes_tests(tests_param: str, problem: Problem) -> bool:
    """Whether the policy asks the generator for tests: a function benchmark with generated
    tests wanted (for stdin/stdout problems the public sample I/O stands in, as in PaT)."""
    return tests_param in ("generated", "both") and bool(problem.entry_point)


def write_tests_action(
    problem: Problem, temperature: float, node: NodeRef = NodeRef(), n: int = 1
) -> Generate:
    messages, sha = render("write_tests", code=problem.prompt.strip("\n"), target=problem.entry_point)
    return Generate(
        role=GENERATOR, kind="write_tests", messages=messages, n=n, temperature=temperature,
        node=node, prompt_sha256=sha, target=problem.entry_point,
    )  # fmt: skip


# --------------------------------------------------------------------------- generated tests
@dataclass(frozen=True)
class WrittenTests:
    """The tests in a test-writing answer: asserts (with expected values) and bare calls."""

    statements: tuple[str, ...]  # every test statement, one per test: asserts and bare calls
    call_inputs: tuple[tuple, ...]  # the literal arguments of the bare calls (for Execute)

    def spec(self) -> AssertTests | None:
        return AssertTests(asserts=self.statements) if self.statements else None

    @property
    def asserts(self) -> tuple[str, ...]:
        return tuple(s for s in self.statements if s.startswith("assert"))


def _calls_target(node: ast.AST, target: str) -> bool:
    return any(
        isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == target
        for sub in ast.walk(node)
    )


def _literal_arguments(call: ast.Call) -> tuple | None:
    if call.keywords or any(isinstance(arg, ast.Starred) for arg in call.args):
        return None
    try:
        return tuple(ast.literal_eval(arg) for arg in call.args)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def parse_written_tests(texts: Sequence[str], target: str) -> WrittenTests:
    """Asserts that call ``target`` and bare ``target(...)`` calls, deduplicated in order; a
    bare call's arguments must be literals to be an input for ``Execute``."""
    statements: list[str] = []
    inputs: list[tuple] = []
    for text in texts:
        code = read_code(text).code
        try:
            module = ast.parse(code) if code else None
        except (SyntaxError, ValueError):
            module = None
        for statement in module.body if module else ():
            if isinstance(statement, ast.Assert) and _calls_target(statement, target):
                line = ast.unparse(statement)
            elif (
                isinstance(statement, ast.Expr)
                and isinstance(statement.value, ast.Call)
                and isinstance(statement.value.func, ast.Name)
                and statement.value.func.id == target
            ):
                line = ast.unparse(statement)
                arguments = _literal_arguments(statement.value)
                if arguments is not None and arguments not in inputs:
                    inputs.append(arguments)
            else:
                continue
            if line not in statements:
                statements.append(line)
    return WrittenTests(tuple(statements), tuple(inputs))


def call_tests(target: str, inputs: Sequence[tuple]) -> CallTests | None:
    return CallTests(entry_point=target, inputs=tuple(inputs)) if inputs else None


# --------------------------------------------------------------------------- test suites
@dataclass(frozen=True)
class Suite:
    source: str  # "public" | "generated"
    tests: TestSpec
    time_limits_s: tuple[float, ...] | None = None  # the public tests' measured limits

    def verify(self, programs: Sequence[str], node: NodeRef = NodeRef()) -> Verify:
        return Verify(tuple(programs), self.tests, self.source, node, self.time_limits_s)

    def statement(self, index: int) -> str:
        """A readable form of test ``index`` (for repair feedback)."""
        tests = self.tests
        if isinstance(tests, AssertTests) and index < len(tests.asserts):
            return tests.asserts[index]
        if isinstance(tests, CallTests) and index < len(tests.inputs):
            call = f"{tests.entry_point}({', '.join(repr(a) for a in tests.inputs[index])})"
            if tests.expected is not None and index < len(tests.expected):
                return f"assert {call} == {tests.expected[index]!r}"
            return call
        return f"test {index}"

    @property
    def size(self) -> int:
        tests = self.tests
        if isinstance(tests, AssertTests):
            return len(tests.asserts)
        if isinstance(tests, CallTests):
            return len(tests.inputs)
        return len(getattr(tests, "cases", ())) or 1  # stdio cases; check(candidate) is one test


def suites_for(tests_param: str, problem: Problem, written: WrittenTests | None) -> tuple[Suite, ...]:
    suites = []
    if not problem.entry_point and tests_param != "public":
        tests_param = "public"  # stdin/stdout: the public sample I/O stands in for written tests
    if tests_param in ("public", "both") and problem.public_tests is not None:
        suites.append(Suite("public", problem.public_tests, problem.public_time_limits_s))
    if tests_param in ("generated", "both") and written is not None and written.spec() is not None:
        suites.append(Suite("generated", written.spec()))
    return tuple(suites)


def selected_on(suites: Sequence[Suite]) -> str:
    sources = {suite.source for suite in suites}
    return "both" if len(sources) == 2 else next(iter(sources), "")


@dataclass(frozen=True)
class Tally:
    """One candidate over every suite it ran on."""

    passed: int
    total: int
    passed_indices: frozenset[int]  # global test indices (suites concatenated in order)
    first_failure: str  # "<test statement>: <what happened>" of the first failing test

    @property
    def all_passed(self) -> bool:
        return self.total > 0 and self.passed == self.total


def tally(suites: Sequence[Suite], verified: Sequence[Verified], candidate: int) -> Tally:
    """Candidate ``candidate``'s results over ``verified[k]`` (the Verify of ``suites[k]``)."""
    passed, total, offset = 0, 0, 0
    indices: set[int] = set()
    failure = ""
    for suite, observation in zip(suites, verified):
        verdict: Verdict = observation.verdicts[candidate]
        statuses = tuple(getattr(verdict, "test_statuses", ()) or ())
        passed += verdict.tests_passed
        total += verdict.tests_total
        if statuses:
            indices.update(offset + i for i, status in enumerate(statuses) if status == PASSED)
            first_bad = next((i for i, status in enumerate(statuses) if status != PASSED), None)
        else:  # no per-test statuses: a fully passing verdict passes every test
            if verdict.passed:
                indices.update(range(offset, offset + verdict.tests_total))
            first_bad = None if verdict.passed else 0
        if not failure and not verdict.passed:
            where = suite.statement(first_bad) if first_bad is not None else ""
            detail = verdict.first_failure or verdict.status
            failure = f"{where}: {detail}" if where else detail
        offset += suite.size  # the same for every candidate, so indices align across them
    return Tally(passed, total, frozenset(indices), failure)
