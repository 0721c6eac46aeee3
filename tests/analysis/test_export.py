"""`patflow export` over hand-built stores: only passing, deduplicated solutions; every format
loads with pyarrow and with `datasets` (the `test` extra installs it; imported inside its test,
so collecting this file does not pay for it), offline and without opening a socket; preference
pairs never cross problems; decontamination drops overlapping problems and says why."""

from __future__ import annotations

import json
import socket

import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from storage_builders import Call, make_item  # on sys.path from conftest.py

from flows.cli import app
from tasks.analysis.export import export_training_data, ngrams, normalised_code_hash
from tasks.analysis.named import run_named
from tasks.records import DatasetInfo
from tasks.storage import write_chunk

runner = CliRunner()
PROGRAM = "def f(x):\n    return x + 1\n"
SAME_AST = "def f(x):\n    '''Add one.'''\n    # a comment\n    return (x + 1)\n"
OTHER = "def f(x):\n    return 1 + x\n"
WRONG = "def f(x):\n    return x - 1\n"
TREE = json.dumps({"node": "root", "children": [{"node": "helper"}]})


def passing(task, policy, seed, program, **kw):
    return make_item(task, policy, seed, final_program=program,
                     calls=(Call("generator", 10, 5, 0.01),), **kw)


def failing(task, policy, seed, program, **kw):
    return make_item(task, policy, seed, final_program=program, suites=(("base", False),),
                     calls=(Call("generator", 10, 5, 0.01),), **kw)


@pytest.fixture
def export_store(store):
    write_chunk(store, [
        passing("a", "standard", 0, PROGRAM),
        passing("a", "pat", 0, SAME_AST, tree_json=TREE),  # same AST: a duplicate
        passing("a", "pat", 1, OTHER, tree_json=TREE),
        failing("a", "standard", 1, WRONG),
        make_item("a", "pat", 2, final_program=PROGRAM,  # passed one suite, failed another
                  suites=(("base", True), ("plus", False))),
        passing("b", "standard", 0, "def g():\n    return 2\n"),
        failing("b", "pat", 0, "def g():\n    return 3\n"),
        failing("b", "pat", 1, "def g():\n    return 4\n"),
        failing("c", "standard", 0, "def h():\n    return 0\n"),
        make_item("d", "standard", 0, final_program="def k():\n    return 5\n",
                  suites=()),  # nothing scored: never a solution
    ])
    return store


def test_normalised_hash_ignores_layout_comments_and_docstrings():
    assert normalised_code_hash(PROGRAM) == normalised_code_hash(SAME_AST)
    assert normalised_code_hash(PROGRAM) != normalised_code_hash(OTHER)
    assert normalised_code_hash("def broken(:\n") == normalised_code_hash("  def broken(:  \n\n")


def test_export_candidates_columns(export_store):
    rows = {(r["task_id"], r["policy"], r["seed"]): r
            for r in run_named(str(export_store), "export_candidates", {}).to_pylist()}
    row = rows[("a", "pat", 2)]
    assert (row["passed"], row["suites_passed"], row["suites_total"], row["status"]) == (
        False, ["base"], 2, "failed")
    assert rows[("a", "pat", 1)]["tree_json"] == TREE and rows[("a", "standard", 0)]["tree_json"] is None
    assert rows[("a", "standard", 0)]["final_program"] == PROGRAM
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (0, 0, 0.0)
    first = rows[("a", "standard", 0)]
    assert (first["input_tokens"], first["output_tokens"], first["cost_usd"]) == (10, 5, 0.01)
    assert first["run_id"] == "r1" and first["dataset_name"] == "toy"
    assert first["dataset_version"] == "0.1" and first["dataset_sha256"] == "ab" * 32
    assert json.loads(first["policy_spec"])["name"] == "standard"
    assert (first["generator_model"], first["planner_model"]) == ("sim/small", "sim/large")
    assert first["planner_invoked"] is False


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "chat"])
def test_export_holds_only_passing_deduplicated_solutions(export_store, tmp_path, fmt):
    output = tmp_path / f"out.{ 'parquet' if fmt == 'parquet' else 'jsonl'}"
    summary = export_training_data(export_store, ["r1"], output, fmt=fmt)
    table = pq.read_table(output) if fmt == "parquet" else pa_json.read_json(output)
    records = table.to_pylist()
    solutions = [r["messages"][2]["content"] for r in records] if fmt == "chat" else [
        r["solution"] for r in records]
    hashes = [normalised_code_hash(s) for s in solutions]
    assert len(set(hashes)) == len(hashes) == 3  # PROGRAM and SAME_AST: one of them
    assert set(hashes) == {normalised_code_hash(p) for p in (PROGRAM, OTHER, "def g():\n    return 2\n")}
    assert summary.counts == {"candidates": 10, "passing": 4, "duplicates_dropped": 1,
                              "contaminated_dropped": 0, "failing": 6, "written": 3}
    provenance = json.loads(summary.provenance.read_text())
    assert provenance["runs"][0]["run_id"] == "r1" and provenance["counts"]["written"] == 3
    assert provenance["datasets"] == [{"name": "toy", "version": "0.1", "sha256": "ab" * 32}]
    assert not any("contamination" in w for w in provenance["warnings"])  # toy is not built in
    if fmt == "chat":
        assert [m["role"] for m in records[0]["messages"]] == ["system", "user", "assistant"]
    else:
        with_tree = [r for r in records if r["solution"] == OTHER]
        assert with_tree[0]["decomposition"] == TREE and with_tree[0]["suites_passed"] == ["base"]


LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture
def no_network(monkeypatch):
    """Every name lookup and socket connection outside loopback fails and is recorded: a loader
    that tries the Hugging Face Hub (or anything else) is seen even where DNS is down."""
    attempts = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in LOOPBACK:
            attempts.append(address)
            raise OSError(f"test: network access to {address!r} is not allowed")
        return real_connect(sock, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK and host is not None:
            attempts.append(host)
            raise socket.gaierror(f"test: name lookup of {host!r} is not allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    return attempts


@pytest.mark.parametrize("fmt, expected_columns", [
    ("jsonl", {"task_id", "prompt", "solution", "decomposition", "suites_passed"}),
    ("parquet", {"task_id", "prompt", "solution", "decomposition", "suites_passed"}),
    ("chat", {"messages"}),
    ("preference", {"task_id", "prompt", "chosen", "rejected"}),
])
def test_every_format_loads_with_datasets_offline(export_store, tmp_path, monkeypatch, no_network,
                                                  fmt, expected_columns):
    datasets = pytest.importorskip(
        "datasets", reason="`datasets` is in the test extra: pip install -c constraints.txt -e '.[test]'")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # flows/environment.py sets it; the test relies on it
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    output = tmp_path / ("out.parquet" if fmt == "parquet" else "out.jsonl")
    export_training_data(export_store, ["r1"], output, fmt=fmt)
    expected = (pq.read_table(output) if fmt == "parquet" else pa_json.read_json(output)).to_pylist()
    loaded = datasets.load_dataset("parquet" if fmt == "parquet" else "json", data_files=str(output),
                                   split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert expected_columns <= set(loaded.column_names)
    assert loaded.num_rows == len(expected) == (2 if fmt == "preference" else 3)
    assert loaded.to_list() == expected
    if fmt == "chat":
        assert [m["role"] for m in loaded[0]["messages"]] == ["system", "user", "assistant"]
    if fmt == "preference":
        assert all(row["chosen"] != row["rejected"] for row in loaded)
    assert no_network == []


def test_preference_pairs_never_cross_problems(export_store, tmp_path):
    output = tmp_path / "pref.jsonl"
    export_training_data(export_store, ["r1"], output, fmt="preference")
    records = pa_json.read_json(output).to_pylist()
    candidates = {(r["task_id"], r["final_program"]): r["passed"]
                  for r in run_named(str(export_store), "export_candidates", {}).to_pylist()}
    assert {(r["task_id"], r["chosen"], r["rejected"]) for r in records} == {
        ("a", SAME_AST, WRONG), ("b", "def g():\n    return 2\n", "def g():\n    return 3\n")}
    for record in records:
        assert candidates[(record["task_id"], record["chosen"])] is True
        assert candidates[(record["task_id"], record["rejected"])] is False


def test_where_filter_and_bad_where(export_store, tmp_path):
    summary = export_training_data(export_store, ["r1"], tmp_path / "x.jsonl", where="policy = 'pat'")
    assert [r["solution"] for r in pa_json.read_json(tmp_path / "x.jsonl").to_pylist()] == [SAME_AST, OTHER]
    assert json.loads(summary.provenance.read_text())["where"] == "policy = 'pat'"
    result = runner.invoke(app, ["export", "--store", str(export_store), "--run-id", "r1",
                                 "--output", str(tmp_path / "y.jsonl"), "--where", "nope = 1"])
    assert result.exit_code == 2 and "--where" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_decontamination_drops_overlapping_problems_and_warns(store, tmp_path, shared_datasets):
    from tasks.benchmarks import load_benchmark

    humaneval = load_benchmark("humaneval", str(shared_datasets))
    first = humaneval.problems[0]
    write_chunk(store, [
        passing(first.task_id, "standard", 0, first.prompt + "    return False\n",
                dataset=humaneval.info),
        passing("mine", "standard", 0, "def novel_function_name():\n    return 42\n",
                dataset=DatasetInfo("toy", "0.1", "ab" * 32)),
    ])
    output = tmp_path / "clean.jsonl"
    result = runner.invoke(app, ["export", "--store", str(store), "--run-id", "r1", "--output",
                                 str(output), "--decontaminate", "humaneval", "--data-dir",
                                 str(shared_datasets)])
    assert result.exit_code == 0, result.output
    records = pa_json.read_json(output).to_pylist()
    assert [r["task_id"] for r in records] == ["mine"]
    provenance = json.loads((tmp_path / "clean.jsonl.provenance.json").read_text())
    (dropped,) = provenance["decontaminate"]["dropped_problems"]
    assert dropped["task_id"] == first.task_id and "13-gram overlap with humaneval/" in dropped["reason"]
    # Without decontamination the HumanEval problem is exported, with its prompt, and warned about.
    result = runner.invoke(app, ["export", "--store", str(store), "--run-id", "r1", "--output",
                                 str(tmp_path / "dirty.jsonl"), "--data-dir", str(shared_datasets)])
    assert result.exit_code == 0 and "contamination" in result.stderr and "humaneval" in result.stderr
    dirty = {r["task_id"]: r for r in pa_json.read_json(tmp_path / "dirty.jsonl").to_pylist()}
    assert dirty[first.task_id]["prompt"] == first.prompt


def test_ngrams_normalise_and_n_is_a_parameter():
    assert ngrams("Return  the SUM, of a + b", 3) == {("return", "the", "sum"), ("the", "sum", "of"),
                                                     ("sum", "of", "a"), ("of", "a", "b")}
    assert ngrams("too short", 13) == set()


def test_export_bad_input_is_one_line(export_store, tmp_path):
    for args, message in (
        (["--format", "xml"], "format 'xml'"),
        (["--decontaminate", "nosuch"], "--decontaminate 'nosuch'"),
        (["--run-id", "../x"], "run id '../x'"),
    ):
        base = ["export", "--store", str(export_store), "--output", str(tmp_path / "z.jsonl")]
        if "--run-id" not in args:
            base += ["--run-id", "r1"]
        result = runner.invoke(app, base + args)
        assert result.exit_code == 2 and message in result.stderr, (args, result.stderr)
