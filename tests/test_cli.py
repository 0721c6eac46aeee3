"""The CLI: every command has help, and bad input is one clear line with a non-zero exit."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def command_names() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    names = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            names += [f"{name} {sub}" for sub in command.commands]
        else:
            names.append(name)
    return names


def test_every_command_has_help_text():
    names = command_names()
    assert {"run", "evaluate", "report", "datasets", "doctor"} <= {n.split()[0] for n in names}
    for name in names:
        result = invoke(*name.split(), "--help")
        assert result.exit_code == 0, (name, result.output)
        assert "Usage" in result.output and len(result.output.splitlines()) > 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--benchmark", "no-such-bench"], "unknown benchmark 'no-such-bench'"),
        (["run", "--policy", "magic"], "unknown policy 'magic' (known: best_of_n, codet, funcoder, pat, self_debug, standard)"),
        (["run", "--generator", "nosuchprovider/model"], "unknown model provider in 'nosuchprovider/model'"),
        (["run", "--planner", "nosuchprovider/big"], "unknown model provider in 'nosuchprovider/big'"),
    ],
)
def test_run_rejects_bad_input_before_starting(args, message, tmp_path):
    result = invoke(*args, "--store", str(tmp_path / "runs"))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.parquet"))


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"task_id": "HumanEval/0", "completion": "    return False"}', "{not json"], ":2: not valid JSON"),
        (['{"task_id": "HumanEval/999", "solution": "x = 1"}'], ":1: task_id 'HumanEval/999' is not in dataset 'humaneval'"),
        (['{"task_id": "HumanEval/1"}'], ":1: expected a string field 'solution' or 'completion'"),
        (['["HumanEval/1"]'], ":1: expected a JSON object"),
    ],
)
def test_evaluate_rejects_malformed_samples_with_file_and_line(lines, message, tmp_path):
    samples = write_lines(tmp_path / "samples.jsonl", lines)
    result = invoke("evaluate", "--dataset", "humaneval", "--samples", str(samples), "--output", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert f"{samples}{message}" in result.output.replace("\n", "")
    assert not (tmp_path / "out" / "verdicts.parquet").exists()


def test_evaluate_rejects_unknown_dataset(tmp_path):
    samples = write_lines(tmp_path / "s.jsonl", ['{"task_id": "x", "solution": ""}'])
    result = invoke("evaluate", "--dataset", "nope", "--samples", str(samples), "--output", str(tmp_path))
    assert result.exit_code == 2 and "unknown benchmark 'nope'" in result.output
