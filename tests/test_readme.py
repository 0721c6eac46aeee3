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


def code_blocks(language: str = "") -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


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
