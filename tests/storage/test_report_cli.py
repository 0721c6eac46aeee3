"""`patflow report` and `patflow sql` end to end through the real Typer app, over a hand-built
store."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest
from storage_builders import Call, Check, make_item
from typer.testing import CliRunner

from flows.cli import app
from flows.commands.report import print_report
from tasks.storage import write_chunk

runner = CliRunner()


@pytest.fixture
def filled(store):
    write_chunk(store, [
        make_item("A", "standard", 0, calls=(Call("generator", 100, 20, 0.01, 8.0),),
                  checks=(Check("public", False),), suites=(("base", False),)),
        make_item("A", "pat", 0, calls=(Call("generator", 100, 20, 0.01, 8.0, cached=True),
                                        Call("planner", 300, 60, 0.05, 70.0, "plan"),
                                        Call("generator", 150, 30, 0.02, 8.0, "implement")),
                  checks=(Check("public", False), Check("public", True)),
                  suites=(("base", True),), planner_invoked=True),
    ])
    write_chunk(store, [make_item("B", "pat", 0, run_id="other",
                                  calls=(Call("generator", 5, 5, 0.0, 8.0),))])
    return store


def invoke(*args, env=None):
    return runner.invoke(app, ["report", *map(str, args)], env=env)


def test_report_json_default_query_over_all_runs(filled):
    result = invoke("--store", filled, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {(r["run_id"], r["policy"]) for r in rows} == {
        ("r1", "pat"), ("r1", "standard"), ("other", "pat")}
    pat = next(r for r in rows if (r["run_id"], r["policy"]) == ("r1", "pat"))
    weighted = 8 * 120 + 70 * 360 + 8 * 180
    assert pat["weighted_cost_relative_to_reference"] == pytest.approx(weighted / (8 * 120))


def test_report_run_id_filter_csv_and_env_store(filled):
    result = invoke("--run-id", "r1", "--format", "csv", env={"PATFLOW_STORE": str(filled)})
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted(r["policy"] for r in rows) == ["pat", "standard"]
    assert {r["run_id"] for r in rows} == {"r1"}


def test_report_named_query_with_param_as_table(filled):
    result = invoke("--store", filled, "--query", "planner_rescues", "--param", "run_id=r1")
    assert result.exit_code == 0, result.output
    assert "rescued" in result.stdout and "planner_rescues" in result.stdout


def test_report_list_names_every_query():
    result = invoke("--list")
    assert result.exit_code == 0
    names = {line.split("\t")[0] for line in result.stdout.splitlines()}
    assert {"policy_comparison", "pareto", "cost_breakdown", "planner_trigger", "failure_modes",
            "paired", "run_diff", "planner_rescues", "cost_per_correct",
            "model_calls_by_phase"} <= names


@pytest.mark.parametrize(
    "args, message",
    [
        (("--query", "nope"), "unknown query 'nope'"),
        (("--param", "runid=r1"), "unknown parameter $runid"),
        (("--param", "run_id"), "expected key=value"),
        (("--format", "xml"), "format 'xml'"),
        (("--query", "paired"), "parameter $policy_a is required"),
        (("--param", "resamples=lots"), "wrong type"),
        (("--run-id", "../x"), "run id '../x'"),
    ],
)
def test_report_bad_input_is_one_line_exit_2(filled, args, message):
    result = invoke("--store", filled, *args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_report_missing_store_is_one_line(tmp_path):
    result = invoke("--store", tmp_path / "absent")
    assert result.exit_code == 2 and "no such directory" in result.stderr


def test_print_report_table_shows_the_comparison(filled, capsys):
    print_report(str(filled), ["r1"])
    out = capsys.readouterr().out
    assert "pass_at_1" in out and "standard" in out and "pat" in out
    assert "weighted_cost_relative_to_reference" in out


def test_print_report_on_empty_run_says_so(filled, capsys):
    print_report(str(filled), ["never-ran"])
    assert "no rows" in capsys.readouterr().out


def test_report_parquet_to_a_file_and_a_query_with_required_params(filled, tmp_path):
    output = tmp_path / "paired.parquet"
    result = invoke("--store", filled, "--run-id", "r1", "--query", "paired", "--param",
                    "policy_a=pat", "--param", "policy_b=standard", "--format", "parquet",
                    "--output", output)
    assert result.exit_code == 0, result.output
    (row,) = pq.read_table(output).to_pylist()
    assert (row["only_a"], row["only_b"], row["mcnemar_p"]) == (1, 0, 1.0)


def test_report_intervals_in_json(filled):
    result = invoke("--store", filled, "--run-id", "r1", "--format", "json",
                    "--param", "resamples=50")
    rows = json.loads(result.stdout)
    assert all("pass_at_1_low" in r and "seed_pass_at_1_sd" in r for r in rows)


def test_sql_runs_over_the_same_views(filled):
    result = runner.invoke(app, ["sql", "SELECT policy, count(*) AS n FROM outcomes GROUP BY ALL"
                                 " ORDER BY policy", "--store", str(filled), "--run-id", "r1",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"policy": "pat", "n": 1}, {"policy": "standard", "n": 1}]
    everything = runner.invoke(app, ["sql", "SELECT count(*) AS n FROM calls", "--store", str(filled),
                                     "--format", "csv"])
    assert everything.stdout.split() == ['"n"', "5"]


def test_sql_error_is_one_line_exit_2(filled):
    result = runner.invoke(app, ["sql", "SELECT nope FROM outcomes", "--store", str(filled)])
    assert result.exit_code == 2 and "patflow sql:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_report_html_writes_one_self_contained_file(filled, tmp_path):
    output = tmp_path / "report.html"
    result = invoke("--store", filled, "--run-id", "r1", "--html", output)
    assert result.exit_code == 0, result.output
    text = output.read_text()
    assert '<svg id="pareto"' in text and text.count('class="point"') == 2
    assert "http://" not in text and "https://" not in text and "<link" not in text


def test_report_csv_writes_list_columns_as_json(filled):
    result = invoke("--store", filled, "--run-id", "r1", "--query", "failure_modes", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {json.dumps(["A"])} == {r["example_task_ids"] for r in rows}
