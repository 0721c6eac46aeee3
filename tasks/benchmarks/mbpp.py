"""MBPP (full, 974; ids ``MBPP/<n>``) and MBPP sanitized (427; same id scheme).

Upstream quirks handled here:
- Full MBPP: fields ``text, code, test_list, test_setup_code, challenge_test_list``; ``code``
  uses CRLF and tabs and is kept byte-for-byte as the reference (Python accepts both).
  ``test_setup_code`` (tasks 367 and 927 build a tree from the solution's ``Node`` class) goes
  into ``AssertTests.setup_code``, which the sandbox runs after the candidate.
- Sanitized: a JSON array; ``prompt`` instead of ``text``; ``test_imports`` become
  ``AssertTests.imports``.

Decisions (documented in docs/benchmarks.md):
- No standard import preamble. ``imports`` holds only what the dataset's own tests declare, so
  a candidate that uses ``math``/``re`` without importing it fails, as in the upstream harness.
  A blanket preamble would hide such errors and lift pass rates by about 2 points.
- ``challenge_test_list`` is not scored (most papers do not, and 963 tasks have none).
- Prompt: the problem text and the first test, as the MBPP paper's prompt shows them, in a
  docstring; the entry point is the function the first test calls. With ``public_tests="none"``
  the example is replaced by the reference's signature line, so the name and arity stay known.
- Public: the first listed assert. Hidden "base": all ``test_list`` asserts.
- Time limits: the default per-test limit, except tasks whose reference is known to be slow
  (MBPP/123 takes ~3 s of CPU), which get ``SLOW_REFERENCE_LIMITS_S``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.types import AssertTests

from tasks.benchmarks.drafts import Draft, called_names, defined_functions, signature_line
from tasks.benchmarks.sources import BenchmarkError, require_fields
from tasks.records import DatasetInfo, HiddenSuite, Problem

MBPP_FIELDS = ("task_id", "text", "code", "test_list")
SANITIZED_FIELDS = ("task_id", "prompt", "code", "test_list")
SLOW_REFERENCE_LIMITS_S = {"MBPP/123": 30.0}
DEFAULT_TIME_LIMIT_S = 5.0


def mbpp_drafts(
    path: Path, records: list[tuple[int, dict[str, Any]]], info: DatasetInfo, public_mode: str,
    *, sanitized: bool,
) -> list[Draft]:
    fields = SANITIZED_FIELDS if sanitized else MBPP_FIELDS
    drafts = []
    for line_number, record in records:
        require_fields(path, line_number, record, fields, "MBPP sanitized" if sanitized else "MBPP")
        tests = record["test_list"]
        if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
            raise BenchmarkError(f"{path}:{line_number}: 'test_list' must be a non-empty list of assert strings")
        problem = _problem(record, info, public_mode, sanitized)
        drafts.append(Draft(problem.task_id, (), lambda runs, problem=problem: problem))
    return drafts


def _problem(record: dict[str, Any], info: DatasetInfo, public_mode: str, sanitized: bool) -> Problem:
    task_id = f"MBPP/{record['task_id']}"
    code: str = record["code"]
    asserts = tuple(record["test_list"])
    text = (record["prompt"] if sanitized else record["text"]).strip()
    imports = "\n".join(record.get("test_imports") or []) if sanitized else ""
    setup_code = "" if sanitized else (record.get("test_setup_code") or "")
    entry_point = _entry_point(code, asserts[0])
    if public_mode == "default":
        prompt = f'"""\n{text}\n{asserts[0].strip()}\n"""\n'
        public = AssertTests(asserts=asserts[:1], setup_code=setup_code, imports=imports, entry_point=entry_point)
    else:
        prompt = f'"""\n{text}\nWrite it as: {signature_line(code, entry_point)}\n"""\n'
        public = None
    hidden = AssertTests(asserts=asserts, setup_code=setup_code, imports=imports, entry_point=entry_point)
    time_limit_s = SLOW_REFERENCE_LIMITS_S.get(task_id, DEFAULT_TIME_LIMIT_S)
    return Problem(
        task_id=task_id,
        prompt=prompt,
        entry_point=entry_point,
        public_tests=public,
        hidden_suites=(HiddenSuite("base", hidden, (time_limit_s,) * len(asserts)),),
        reference_solution=code,
        test_format="asserts",
        dataset=info,
        completion_prefix="",
        time_limit_s=time_limit_s,
        public_time_limits_s=(time_limit_s,) if public is not None else None,
    )


def _entry_point(code: str, first_assert: str) -> str:
    defined = defined_functions(code)
    for name in called_names(first_assert):
        if name in defined:
            return name
    return defined[0] if defined else (called_names(first_assert) or [""])[0]
