"""Acceptance of `patflow evaluate` on MBPP (sanitized): the upstream `code` of every task passes
and `return None` passes nothing, with the import preamble off (the default) and on."""

from __future__ import annotations

import json

import pytest
from test_evaluate_humaneval import MODES, run_evaluate

from tasks.benchmarks import load_benchmark


@pytest.fixture
def sanitized(shared_datasets):
    path = shared_datasets / "mbpp" / "sanitized-mbpp.json"
    if not path.is_file():
        pytest.skip(f"{path} is not available (MBPP sanitized comes from ../shared/datasets)")
    return json.loads(path.read_text(encoding="utf-8"))


@MODES
def test_upstream_code_all_passes(tmp_path, sanitized, imports):
    samples = [{"task_id": f"MBPP/{record['task_id']}", "solution": record["code"]} for record in sanitized]
    result, rows = run_evaluate(tmp_path, samples, imports, dataset="mbpp-sanitized")
    assert f"{len(sanitized)}/{len(sanitized)} passed" in result.output
    assert all(row["passed"] and row["status"] == "passed" for row in rows)


@MODES
def test_return_none_passes_nothing(tmp_path, sanitized, imports):
    entry_points = {p.task_id: p.entry_point for p in load_benchmark("mbpp-sanitized").problems}
    samples = []
    for record in sanitized:
        task_id = f"MBPP/{record['task_id']}"
        broken = record["code"] + f"\n\n\ndef {entry_points[task_id]}(*args, **kwargs):\n    return None\n"
        samples.append({"task_id": task_id, "solution": broken})
    result, rows = run_evaluate(tmp_path, samples, imports, dataset="mbpp-sanitized")
    assert f"0/{len(sanitized)} passed" in result.output
    assert not any(row["passed"] for row in rows)
