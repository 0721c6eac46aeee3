"""Sweep configs: every user mistake is one line naming the file and line, exit 2, nothing written;
a config and its flag shortcut are the same RunConfig with the same hash."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks.sweep_config import ResolveOptions, load_sweep_config

GOOD = """\
run_id: cfg
store: {store}
seeds: 2
benchmarks:
  - name: humaneval
    limit: 3
  - name: stdio-demo
    sample: 4
    imports: standard
models:
  small:
    model: sim/small
  large:
    model: sim/large
configurations:
  - name: small+large
    generator: small
    planner: large
  - name: large
    generator: large
    planner: large
policies:
  - name: pat
    params:
      max_attempts: 2
    configurations: [small+large]
  - name: standard
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(text).replace("{store}", str(tmp_path / "runs")))
    return path


def run(*args: str):
    return CliRunner().invoke(app, ["run", *args])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_good_config_resolves_to_the_whole_matrix(tmp_path):
    config = load_sweep_config(write(tmp_path, GOOD))
    assert [b.dataset.name for b in config.benchmarks] == ["humaneval", "stdio-demo"]
    assert [b.problems_selected for b in config.benchmarks] == [3, 4]
    assert config.benchmarks[1].imports == "standard" and config.benchmarks[0].imports == "none"  # the default
    assert [(v.spec.label, v.configurations) for v in config.policies] == [
        ("pat:max_attempts=2", ("small+large",)), ("standard", ("small+large", "large")),
    ]  # fmt: skip
    assert dict(config.estimate_skills) == {"sim/small": "small", "sim/large": "large"}
    from tasks.sweep import count_work_items

    assert count_work_items(config) == (3 + 4) * 3 * 2


def test_a_seeded_sample_is_stable_and_depends_on_the_seed(tmp_path):
    from tasks.benchmarks import load_benchmark
    from tasks.sweep_config import select_problems

    problems = load_benchmark("humaneval").problems
    first = load_sweep_config(write(tmp_path, GOOD.replace("limit: 3", "sample: 20"))).benchmarks[0]
    again = load_sweep_config(write(tmp_path, GOOD.replace("limit: 3", "sample: 20"))).benchmarks[0]
    other = load_sweep_config(write(tmp_path, GOOD.replace("limit: 3", "sample: 20\n    sample_seed: 7"))).benchmarks[0]
    chosen = [p.task_id for p in select_problems(first, problems)]
    assert len(chosen) == 20 == len(set(chosen))
    assert chosen == [p.task_id for p in select_problems(again, problems)]
    assert chosen != [p.task_id for p in select_problems(other, problems)]
    assert chosen != [p.task_id for p in problems[:20]]


def test_task_ids_from_a_file(tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("# two problems\nHumanEval/3\nHumanEval/10\n")
    config = load_sweep_config(write(tmp_path, GOOD.replace("limit: 3", f"task_ids: {ids}")))
    assert config.benchmarks[0].task_ids == ("HumanEval/3", "HumanEval/10")
    assert config.benchmarks[0].problems_selected == 2
    ids.write_text("HumanEval/3\nHumanEval/999\n")
    result = run("--config", str(write(tmp_path, GOOD.replace("limit: 3", f"task_ids: {ids}"))))
    assert result.exit_code == 2 and f"{ids}:2: task id 'HumanEval/999' is not in the benchmark" in result.output


BAD = [
    # (edit of GOOD, line of the error, message)
    (lambda t: t.replace("name: humaneval", "name: no-such-bench"), 5, "unknown benchmark 'no-such-bench'"),
    (lambda t: t.replace("  - name: standard", "  - name: magic"), 27, "unknown policy 'magic'"),
    (lambda t: t.replace("max_attempts: 2", "max_plan: 2"), 25, "policy 'pat' has no parameter 'max_plan'"),
    (lambda t: t.replace("max_attempts: 2", "max_attempts: lots"), 25, "policy 'pat' parameter 'max_attempts': expected int"),
    (lambda t: t.replace("model: sim/large", "model: nosuchprovider/big"), 14, "unknown model provider in 'nosuchprovider/big'"),
    (lambda t: t.replace("  - name: standard", "  - name: standard\n  - name: standard"), 28,
     "two policy variants labelled 'standard' on configuration 'small+large' (the other is at line 27)"),
    (lambda t: t.replace("  - name: standard", "  - name: standard\n    label: two words"), 28,
     "policy label: expected a name of letters"),
    (lambda t: t.replace("seeds: 2", "seeds: [2"), 4,
     "not valid YAML (expected ',' or ']', but got ':'; while parsing a flow sequence started at line 3)"),
    (lambda t: t.replace("seeds: 2", "seedz: 2"), 3, "unknown key 'seedz' (expected one of run_id, store, seeds"),
    (lambda t: t.replace("    limit: 3", "    limit: 3\n    subset: 4"), 7, "benchmark: unknown key 'subset'"),
    (lambda t: t.replace("    planner: large\npolicies", "    planner: huge\npolicies"), 21, "planner: unknown model entry 'huge'"),
    (lambda t: t.replace("configurations: [small+large]", "configurations: [small+huge]"), 26, "unknown configuration 'small+huge'"),
    (lambda t: t.replace("seeds: 2", "seeds: two"), 3, "seeds: expected integer, got 'two'"),
    (lambda t: t.replace("    imports: standard", "    imports: all"), 9, "imports: expected one of standard, none"),
    (lambda t: t.replace("    model: sim/small", "    model: sim/small\n    api_key: sk-123"), 13, "'api_key' looks like a secret"),
]


@pytest.mark.parametrize("edit, line, message", BAD, ids=[b[2][:40] for b in BAD])
def test_each_mistake_is_one_line_with_file_and_line_and_nothing_is_written(edit, line, message, tmp_path):
    path = write(tmp_path, edit(GOOD))
    result = run("--config", str(path))
    assert result.exit_code == 2, result.output
    output = result.output.replace("\n", " ")
    assert f"error: {path}:{line}: " in output, result.output
    assert message in output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3
    assert not (tmp_path / "runs").exists()


def test_an_unset_api_key_variable_is_refused_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("PATFLOW_TEST_UNSET_KEY", raising=False)
    text = GOOD.replace("    model: sim/large", "    model: openai/gpt-4o\n    api_key_env: PATFLOW_TEST_UNSET_KEY")
    path = write(tmp_path, text)
    result = run("--config", str(path))
    assert result.exit_code == 2, result.output
    assert f"{path}:14: model 'openai/gpt-4o': environment variable PATFLOW_TEST_UNSET_KEY is not set" in result.output.replace("\n", " ")
    assert not (tmp_path / "runs").exists()


def test_an_api_base_that_does_not_answer_is_refused(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    path = write(tmp_path, GOOD.replace("    model: sim/large", f"    model: openai/sim-large\n    api_base: {dead}"))
    result = run("--config", str(path))
    assert result.exit_code == 2, result.output
    output = result.output.replace("\n", " ")
    assert f"{path}:14: model 'openai/sim-large': api_base {dead} does not answer" in output
    assert not (tmp_path / "runs").exists()


def test_an_api_base_that_answers_passes_the_probe(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "models"))
    from model_fixtures import SimServerProcess

    from tasks.sweep_config import probe_api_base

    server = SimServerProcess(free_port(), tmp_path / "sim.log").start()
    try:
        assert probe_api_base(server.api_base) is None
    finally:
        server.kill()
    assert probe_api_base(server.api_base)  # gone: a reason, not None


def test_a_store_that_cannot_be_written_is_refused(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    path = write(tmp_path, GOOD.replace("store: {store}", f"store: {blocker}/runs"))
    result = run("--config", str(path))
    assert result.exit_code == 2, result.output
    assert f"{path}:2: store {blocker}/runs is not writable ({blocker} is not a directory)" in result.output.replace("\n", " ")
    assert blocker.read_text() == "not a directory"


def test_sweep_flags_cannot_be_mixed_with_a_config(tmp_path):
    result = run("--config", str(write(tmp_path, GOOD)), "--seeds", "3")
    assert result.exit_code == 2 and "--seeds describes the sweep and cannot be combined with --config" in result.output


def test_flag_errors_name_the_command_line(tmp_path):
    result = run("--policy", "pat:max_attempts=many", "--store", str(tmp_path / "runs"))
    assert result.exit_code == 2
    assert "command line: policy 'pat' parameter 'max_attempts': expected int" in result.output.replace("\n", " ")


def test_a_config_and_its_flag_shortcut_are_the_same_config(tmp_path):
    from flows.commands.run import build_config

    flags = dict(
        config_file=None, benchmark="humaneval", policy=["standard", "pat:max_attempts=2", "standard:generator=sim/large"],
        generator="sim/small", planner="sim/large", api_base=None, api_key_env=None, max_concurrency=8,
        models_config=None, seeds=2, limit=5, store=tmp_path / "runs", run_id="same", data_dir=None, cache_dir=None,
        workers=None, dask_address=None, temperature=None, max_tokens=None, chunk_size=4, output_format="table",
    )  # fmt: skip
    from_flags = build_config(flags)
    path = write(tmp_path, """\
        run_id: same
        seeds: 2
        benchmarks: [{name: humaneval, limit: 5}]
        models:
          small: {model: sim/small, max_concurrency: 8}
          large: {model: sim/large, max_concurrency: 8}
        configurations:
          - {name: small+large, generator: small, planner: large}
          - {name: large, generator: large, planner: large}
        policies:
          - {name: standard, configurations: [small+large]}
          - {name: pat, params: {max_attempts: 2}, configurations: [small+large]}
          - {name: standard, configurations: [large]}
        concurrency: {chunk_size: 16}
    """)
    from_file = load_sweep_config(path, ResolveOptions(store=str(tmp_path / "runs")))
    assert from_file.config_sha256() == from_flags.config_sha256()
    assert [p.spec for p in from_file.policies] == [p.spec for p in from_flags.policies]
    assert [(c.generator, c.planner) for c in from_file.configurations] == [
        (c.generator, c.planner) for c in from_flags.configurations
    ]
    # ...and a change that changes results changes the hash
    changed = load_sweep_config(write(tmp_path, path.read_text().replace("seeds: 2", "seeds: 3")))
    assert changed.config_sha256() != from_flags.config_sha256()
