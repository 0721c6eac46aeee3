"""`patflow evaluate --imports none|standard`: the choice changes verdicts, is printed, and is
recorded in verdicts.parquet and manifest.json (a real custom dataset, real sandbox runs)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks.preamble import STANDARD_PREAMBLE

PROBLEM = {
    "task_id": "tiny/0",
    "prompt": "def hypotenuse(a, b):\n    \"\"\"The hypotenuse of a right triangle with legs a and b.\"\"\"\n",
    "entry_point": "hypotenuse",
    "canonical_solution": "    import math\n    return math.sqrt(a * a + b * b)\n",
    "test": "def check(candidate):\n    assert candidate(3, 4) == 5.0\n    assert candidate(5, 12) == 13.0\n",
}
UNIMPORTED = {"task_id": "tiny/0", "completion": "    return math.sqrt(a * a + b * b)\n"}


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("PATFLOW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PATFLOW_IMPORTS", raising=False)
    dataset = tmp_path / "tiny.jsonl"
    dataset.write_text(json.dumps(PROBLEM) + "\n")
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps(UNIMPORTED) + "\n")
    return dataset, samples, tmp_path / "out"


def evaluate(files, *extra, env=None):
    dataset, samples, out = files
    return CliRunner().invoke(
        app, ["evaluate", "--dataset", str(dataset), "--samples", str(samples), "--output", str(out), *extra],
        env=env,
    )


def recorded(out):
    rows = pq.read_table(out / "verdicts.parquet").to_pylist()
    return rows, json.loads((out / "manifest.json").read_text())


def test_the_default_is_none_printed_and_recorded(files):
    result = evaluate(files)
    assert result.exit_code == 0, result.output
    assert "imports: none" in result.output and "0/1 passed (tiny); imports=none;" in result.output
    rows, manifest = recorded(files[2])
    assert [(row["imports"], row["passed"], row["status"]) for row in rows] == [("none", False, "error:NameError")]
    assert manifest["imports"] == "none" and manifest["preamble"] == ""
    assert (manifest["samples_total"], manifest["passed"]) == (1, 0)
    assert manifest["dataset"]["name"] == "tiny" and len(manifest["samples_sha256"]) == 64


def test_standard_flips_the_verdict_and_says_so(files):
    result = evaluate(files, "--imports", "standard")
    assert result.exit_code == 0, result.output
    assert "imports: standard" in result.output and "1/1 passed (tiny); imports=standard;" in result.output
    rows, manifest = recorded(files[2])
    assert [(row["imports"], row["passed"]) for row in rows] == [("standard", True)]
    assert manifest["imports"] == "standard" and manifest["preamble"] == STANDARD_PREAMBLE
    assert manifest["passed"] == 1


def test_the_environment_twin_sets_the_mode(files):
    result = evaluate(files, env={"PATFLOW_IMPORTS": "standard"})
    assert result.exit_code == 0, result.output
    assert recorded(files[2])[0][0]["imports"] == "standard"


def test_an_unknown_mode_is_one_line_and_no_work(files):
    result = evaluate(files, "--imports", "numpy")
    assert result.exit_code == 2
    assert "unknown imports mode 'numpy' (expected one of: none, standard)" in result.output
    assert "Traceback" not in result.output and not files[2].exists()
