"""The README's promises: the Quickstart is exactly two commands, and its query examples run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from flows.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def fenced_blocks() -> list[tuple[str, str]]:
    """(language, text) of every fenced block, fences paired line by line."""
    blocks, language, lines = [], None, []
    for line in README.splitlines():
        if line.startswith("```"):
            if language is None:
                language, lines = line[3:].strip(), []
            else:
                blocks.append((language, "".join(text + "\n" for text in lines)))
                language = None
        elif language is not None:
            lines.append(line)
    return blocks


def code_blocks(language: str = "") -> list[str]:
    return [text for lang, text in fenced_blocks() if lang == language]


def test_readme_opens_with_a_two_command_quickstart():
    first_heading = re.search(r"^## (.+)$", README, re.MULTILINE).group(1)
    assert first_heading == "Quickstart"
    assert code_blocks()[0].split("\n")[:2] == ["make demo", "make test"]
    assert code_blocks()[0].strip().count("\n") == 1


def report_examples() -> list[list[str]]:
    return [
        shlex.split(line)[1:]
        for block in code_blocks()
        for line in block.splitlines()
        if line.startswith(".venv/bin/patflow report")
    ]


def test_readme_has_report_examples():
    assert len(report_examples()) >= 3


@pytest.mark.integration
@pytest.mark.parametrize("args", report_examples(), ids=lambda a: " ".join(a))
def test_readme_report_example_runs(args, demo_store, monkeypatch):
    monkeypatch.setenv("PATFLOW_STORE", str(demo_store))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "standard" in result.output or args == ["report", "--list"]


@pytest.mark.integration
def test_readme_sql_example_runs_on_the_store(demo_store):
    (sql,) = code_blocks("sql")
    rows = duckdb.connect().execute(sql.replace("data/runs", str(demo_store))).fetchall()
    assert {policy for policy, _, _ in rows} == {"standard", "pat"}
    assert all(items == 4 and 0 <= rate <= 1 for _, rate, items in rows)


def readme_sweep_config() -> str:
    (config,) = [block for block in code_blocks("yaml") if "configurations:" in block]
    return config


def test_readme_config_follows_the_quickstart_and_is_a_valid_sweep(tmp_path, require_builtin):
    """The README's config is the paper's comparison and passes every check but the network ones."""
    assert README.index("## A sweep as a config file") < README.index("## What patflow is")
    assert README.index("## Quickstart") < README.index("## A sweep as a config file")
    require_builtin("mbpp")
    from tasks.sweep_config import load_sweep_config

    path = tmp_path / "paper-comparison.yaml"
    path.write_text(readme_sweep_config())
    config = load_sweep_config(path)
    assert [b.dataset.name for b in config.benchmarks] == ["humaneval", "mbpp"]
    assert [b.problems_selected for b in config.benchmarks] == [164, 200]
    cells = {(v.spec.label, c) for v in config.policies for c in v.configurations}
    assert cells == {("pat", "small+large"), ("standard", "small+large"), ("standard", "large")}
    small_large = config.configuration("small+large")
    assert small_large.generator.cost_weight < small_large.planner.cost_weight


@pytest.mark.integration
def test_readme_estimate_example_runs_and_prints_what_the_readme_shows(tmp_path, monkeypatch, require_builtin):
    require_builtin("mbpp")
    (command,) = [
        shlex.split(line)[1:] for block in code_blocks() for line in block.splitlines()
        if line.startswith(".venv/bin/patflow run --config paper-comparison.yaml --estimate")
    ]  # fmt: skip
    assert command[-2:] == ["--sample", "20"]
    (tmp_path / "paper-comparison.yaml").write_text(readme_sweep_config())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOGETHERAI_API_KEY", raising=False)  # an estimate needs no key
    result = CliRunner().invoke(app, [*command[:-1], "2", "--format", "json"])  # a smaller sample: same shape
    assert result.exit_code == 0, result.output
    import json

    rows = [r for r in json.loads(result.output[result.output.index("["):]) if r["benchmark"] != "TOTAL"]
    shown = {(b, p, c) for b, p, c in re.findall(r"^│ (humaneval|mbpp)\s+│ (\w+)\s+│ ([\w+]+)", README, re.MULTILINE)}
    assert {(r["benchmark"], r["policy"], r["configuration"]) for r in rows} == shown and len(shown) == 6
    assert all(r["usd"] > 0 and r["problems_run"] == 2 for r in rows)
