"""HumanEval-format problems: ``task_id, prompt, entry_point, test`` (+ ``canonical_solution``).

- Prompt: the upstream prompt, unchanged (signature + docstring). ``completion_prefix`` is the
  prompt, so an EvalPlus-style ``completion`` is appended to it.
- Public tests: the docstring examples as ``CallTests`` (see ``examples.py``), minus any the
  reference fails; ``None`` when no example parses.
- Hidden: one suite "base", ``check(candidate)`` from ``test`` (``CheckFunctionTests``), with
  the prompt's other definitions (HumanEval/32's ``poly``, /38's ``encode_cyclic``) as trusted
  helpers: the judge runs the prompt's, never a candidate's redefinition.
- Reference: ``prompt + canonical_solution`` when present. Its measured run time of ``check``
  sets the suite's time limit (max(5 s, 6 x reference)).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from sandbox.types import CheckFunctionTests

from tasks.benchmarks.drafts import Draft, keep_passing, kept_time_limits, public_call_tests
from tasks.benchmarks.reference_runs import ReferenceJob, ReferenceRun
from tasks.benchmarks.sources import require_fields
from tasks.records import DatasetInfo, HiddenSuite, Problem
from tasks.scoring import scaled_time_limits

HUMANEVAL_FIELDS = ("task_id", "prompt", "entry_point", "test")
WHOLE_SUITE_FLOOR_S = 5.0


def humaneval_drafts(
    path: Path, records: list[tuple[int, dict[str, Any]]], info: DatasetInfo, public_mode: str
) -> list[Draft]:
    drafts = []
    for line_number, record in records:
        require_fields(path, line_number, record, HUMANEVAL_FIELDS, "HumanEval")
        drafts.append(_draft(record, info, public_mode))
    return drafts


def prompt_helpers(prompt: str, entry_point: str) -> str:
    """The prompt's top-level statements other than the entry point's stub ("" if it does not parse)."""
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return ""
    kept = [
        node
        for node in tree.body
        if not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point)
    ]
    return "\n".join(ast.unparse(node) for node in kept)


def _draft(record: dict[str, Any], info: DatasetInfo, public_mode: str) -> Draft:
    task_id = str(record["task_id"])
    prompt = record["prompt"]
    entry_point = record["entry_point"]
    reference = None
    if record.get("canonical_solution"):
        reference = prompt + record["canonical_solution"]
    hidden = CheckFunctionTests(test_code=record["test"], entry_point=entry_point, helpers=prompt_helpers(prompt, entry_point))
    public = public_call_tests(prompt, entry_point) if public_mode == "default" else None

    jobs = []
    if reference is not None:
        jobs.append(ReferenceJob(f"{task_id}/check", reference, hidden))
        if public is not None:
            jobs.append(ReferenceJob(f"{task_id}/public", reference, public))

    def finish(runs: dict[str, ReferenceRun]) -> Problem:
        check_run = runs.get(f"{task_id}/check")
        time_limits = None
        if check_run is not None:
            time_limits = scaled_time_limits(check_run.durations_s[:1], floor_s=WHOLE_SUITE_FLOOR_S)
        return Problem(
            task_id=task_id,
            prompt=prompt,
            entry_point=entry_point,
            public_tests=keep_passing(public, runs.get(f"{task_id}/public")),
            public_time_limits_s=kept_time_limits(public, runs.get(f"{task_id}/public")),
            hidden_suites=(HiddenSuite("base", hidden, time_limits),),
            reference_solution=reference,
            test_format="check_function",
            dataset=info,
            completion_prefix=prompt,
        )

    return Draft(task_id, tuple(jobs), finish)
