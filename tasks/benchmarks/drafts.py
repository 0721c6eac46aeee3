"""The two-phase shape every loader shares, and helpers they have in common.

A loader turns records into ``Draft``s: the reference runs a problem needs (``jobs``) and a
function that builds the final ``Problem`` from their results. ``assemble`` runs every job of a
dataset at once (in parallel, cached by ``reference_runs``) and then finishes each draft, so a
loader never executes code itself and never waits on one problem at a time.

Public-test policy lives here too: ``public_call_tests`` turns docstring examples into a
``CallTests`` spec, and ``keep_passing`` drops any public test the reference solution fails
(an upstream docstring can be wrong, e.g. HumanEval/47's median example; a public test that
contradicts the reference would mislead a policy).
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, replace
from typing import Any, Callable

from sandbox.types import AssertTests, CallTests, StdioTests, TestSpec

from tasks.benchmarks.examples import docstring_examples
from tasks.benchmarks.reference_runs import ReferenceJob, ReferenceRun, run_reference_jobs
from tasks.records import Problem

PUBLIC_TEST_MODES = ("default", "none")


@dataclass(frozen=True)
class Draft:
    task_id: str
    jobs: tuple[ReferenceJob, ...]
    finish: Callable[[dict[str, ReferenceRun]], Problem | None]


def assemble(dataset_key: str, drafts: list[Draft]) -> list[Problem]:
    jobs = [job for draft in drafts for job in draft.jobs]
    runs = run_reference_jobs(dataset_key, jobs) if jobs else {}
    problems = [draft.finish(runs) for draft in drafts]
    return [problem for problem in problems if problem is not None]


def public_call_tests(prompt: str, entry_point: str, atol: float = 0.0) -> CallTests | None:
    examples = docstring_examples(prompt, entry_point)
    if not examples:
        return None
    return CallTests(
        entry_point=entry_point,
        inputs=tuple(example.args for example in examples),
        expected=tuple(example.expected for example in examples),
        atol=atol,
    )


def keep_passing(tests: TestSpec | None, run: ReferenceRun | None) -> TestSpec | None:
    """The subset of ``tests`` the reference passes; None when nothing is left."""
    if tests is None:
        return None
    if run is None:
        return tests
    keep = [index for index in range(len(run.statuses)) if run.passed(index)]
    if not keep:
        return None
    return subset(tests, keep)


def kept_time_limits(tests: TestSpec | None, run: ReferenceRun | None) -> tuple[float, ...] | None:
    """Per-test limits for what ``keep_passing`` keeps, scaled from the reference's runtimes."""
    if tests is None or run is None:
        return None
    keep = [index for index in range(len(run.statuses)) if run.passed(index)]
    return run.time_limits_s(keep) if keep else None


def subset(tests: TestSpec, keep: list[int]) -> TestSpec:
    if isinstance(tests, CallTests):
        expected = None if tests.expected is None else tuple(tests.expected[i] for i in keep)
        return replace(tests, inputs=tuple(tests.inputs[i] for i in keep), expected=expected)
    if isinstance(tests, AssertTests):
        return replace(tests, asserts=tuple(tests.asserts[i] for i in keep))
    if isinstance(tests, StdioTests):
        return replace(tests, cases=tuple(tests.cases[i] for i in keep))
    return tests


def quiet_parse(source: str) -> ast.Module:
    """``ast.parse`` without the invalid-escape warnings upstream reference code triggers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
        return ast.parse(source)


def defined_functions(code: str) -> list[str]:
    """Top-level function names in ``code`` (empty when it does not parse)."""
    try:
        tree = quiet_parse(code)
    except SyntaxError:
        return re.findall(r"^def\s+(\w+)\s*\(", code, re.MULTILINE)
    return [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def called_names(statement: str) -> list[str]:
    try:
        tree = quiet_parse(statement.strip())
    except SyntaxError:
        return re.findall(r"(\w+)\s*\(", statement)
    return [
        node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]


def signature_line(code: str, entry_point: str) -> str:
    """``def name(a, b):`` as written in ``code`` (for prompts that show no example)."""
    match = re.search(rf"^[ \t]*(def\s+{re.escape(entry_point)}\s*\(.*?\)\s*(->[^:]+)?:)", code, re.MULTILINE | re.DOTALL)
    return match.group(1).strip() if match else f"def {entry_point}(...):"


def literal_roundtrips(value: Any) -> bool:
    try:
        return ast.literal_eval(repr(value)) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
