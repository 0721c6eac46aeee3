"""Every MBPP reference solution passes its own asserts in the sandbox (raw upstream files).

Slow (about 1,400 executions): run with ``pytest -m slow tests/sandboxing/test_sandbox_mbpp.py``.
The order is the one the data README documents: test imports, the solution, then
``test_setup_code`` (tasks 367 and 927 build a ``Node`` the solution defines), then the asserts.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox import execute
from sandbox.types import AssertTests, ExecutionRequest, Limits

LIMITS = Limits(timeout_s=30.0)  # task 123 needs ~3 s of CPU; the machine is shared


def _failures(requests: list[tuple[object, ExecutionRequest]]) -> list[tuple[object, str, str]]:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda item: execute(item[1]), requests))
    return [(key, r.status, r.tests[0].detail if r.tests else "") for (key, _), r in zip(requests, results) if not r.passed]


@pytest.mark.slow
def test_mbpp_full_reference_solutions_pass_their_tests_and_challenge_tests(shared_datasets):
    rows = [json.loads(line) for line in (shared_datasets / "mbpp" / "mbpp.jsonl").read_text().splitlines()]
    assert len(rows) == 974
    requests = []
    for row in rows:
        asserts = tuple(row["test_list"]) + tuple(row["challenge_test_list"])
        tests = AssertTests(asserts, setup_code=row["test_setup_code"])
        requests.append((row["task_id"], ExecutionRequest(row["code"], tests, LIMITS)))
    assert _failures(requests) == []


@pytest.mark.slow
def test_mbpp_sanitized_reference_solutions_pass(shared_datasets):
    rows = json.loads((shared_datasets / "mbpp" / "sanitized-mbpp.json").read_text())
    assert len(rows) == 427
    requests = [
        (
            row["task_id"],
            ExecutionRequest(row["code"], AssertTests(tuple(row["test_list"]), imports="\n".join(row["test_imports"])), LIMITS),
        )
        for row in rows
    ]
    assert _failures(requests) == []


def test_mbpp_setup_code_tasks_pass(shared_datasets):
    """The two tasks whose setup code uses a class the solution defines (fast, always run)."""
    rows = [json.loads(line) for line in (shared_datasets / "mbpp" / "mbpp.jsonl").read_text().splitlines()]
    requests = [
        (row["task_id"], ExecutionRequest(row["code"], AssertTests(tuple(row["test_list"]), setup_code=row["test_setup_code"]), LIMITS))
        for row in rows
        if row["test_setup_code"]
    ]
    assert [key for key, _ in requests] == [367, 927]
    assert _failures(requests) == []
