"""tasks/scheduled.py: a scheduled run's id, the earlier run it is compared with, and the diff.

The store is hand-built: manifests written by ``write_manifest`` from real ``RunConfig``s (as
``claim_run`` writes them) and outcomes from ``storage_builders``, so every flip and pass@1
change expected here is chosen, not computed by the code under test."""

from __future__ import annotations

import dataclasses
import textwrap
from datetime import datetime, timedelta, timezone

import pytest
from storage_builders import make_item

from tasks.scheduled import (
    SCHEDULE_KEY,
    compare_with_previous_run,
    free_run_id,
    previous_complete_run,
    schedule_extra,
    schedule_sha256,
    scheduled_run_id,
    summarize_run_diff,
)
from tasks.storage import write_chunk, write_manifest
from tasks.sweep_config import ResolveOptions, load_sweep_config


def sweep_config(tmp_path, limit: int = 2, run_id: str = "nightly-1"):
    path = tmp_path / f"nightly-{limit}.yaml"
    path.write_text(textwrap.dedent(f"""\
        benchmarks: [{{name: stdio-demo, limit: {limit}}}]
        configurations: [{{name: s, generator: sim/small, planner: sim/large}}]
        policies: [standard, pat]
    """))
    return load_sweep_config(path, ResolveOptions(store=str(tmp_path / "runs"), run_id=run_id))


def claim(config, run_id: str, items_total: int, flow_run_id: str | None = None):
    run = dataclasses.replace(config, run_id=run_id)
    write_manifest(run.store, run, {**schedule_extra(run, flow_run_id), "work_items_total": items_total})
    return run


def commit(store, run_id: str, passes: dict[str, list[bool]]) -> None:
    """One chunk of outcomes: ``passes[policy][i]`` is whether task ``p<i>`` passed."""
    items = [
        make_item(f"p{index}", policy, run_id=run_id, suites=(("base", passed),))
        for policy, outcomes in passes.items()
        for index, passed in enumerate(outcomes)
    ]
    write_chunk(store, items)


def test_scheduled_run_id_is_the_file_stem_and_the_utc_second():
    moment = datetime(2026, 12, 2, 4, 5, 6, 789, tzinfo=timezone(timedelta(hours=1)))
    assert scheduled_run_id("data/sweeps/nightly.yaml", moment) == "nightly-20261202T030506Z"
    assert scheduled_run_id("/x/my sweep+v2.yml", moment) == "my_sweep_v2-20261202T030506Z"


def test_schedule_key_ignores_the_run_id_and_only_the_run_id(tmp_path):
    config = sweep_config(tmp_path)
    renamed = dataclasses.replace(config, run_id="another")
    assert schedule_sha256(config) == schedule_sha256(renamed)
    assert config.config_sha256() != renamed.config_sha256()  # why the key exists
    assert schedule_sha256(sweep_config(tmp_path, limit=3)) != schedule_sha256(config)


def test_free_run_id_skips_ids_of_other_flow_runs_and_keeps_its_own(tmp_path):
    config = sweep_config(tmp_path)
    store = config.store
    assert free_run_id(store, "nightly-x", "flow-a") == "nightly-x"
    claim(config, "nightly-x", 4, flow_run_id="flow-a")
    assert free_run_id(store, "nightly-x", "flow-a") == "nightly-x"  # a retried flow run resumes
    assert free_run_id(store, "nightly-x", "flow-b") == "nightly-x-2"
    assert free_run_id(store, "nightly-x", None) == "nightly-x-2"
    claim(config, "nightly-x-2", 4, flow_run_id="flow-b")
    assert free_run_id(store, "nightly-x", "flow-c") == "nightly-x-3"


@pytest.fixture
def store_of_runs(tmp_path):
    """nightly-1 complete; other-config complete (another limit); nightly-2 interrupted;
    nightly-3 the current run, complete."""
    config = sweep_config(tmp_path)
    store = config.store
    claim(config, "nightly-1", 8)
    commit(store, "nightly-1", {"standard": [True, False, False, False], "pat": [True, True, True, True]})
    other = claim(sweep_config(tmp_path, limit=3), "other-config", 2)
    commit(store, "other-config", {"standard": [True], "pat": [True]})
    claim(config, "nightly-2", 8)
    commit(store, "nightly-2", {"standard": [False, False], "pat": [False, False]})  # 4 of 8 committed
    claim(config, "nightly-3", 8)
    commit(store, "nightly-3", {"standard": [True, True, True, False], "pat": [True, True, True, False]})
    assert schedule_sha256(other) != schedule_sha256(config)
    return store


def test_previous_complete_run_is_the_newest_complete_run_of_the_same_config(store_of_runs):
    assert previous_complete_run(store_of_runs, "nightly-3") == "nightly-1"  # nightly-2 is interrupted
    assert previous_complete_run(store_of_runs, "nightly-2") == "nightly-1"
    assert previous_complete_run(store_of_runs, "nightly-1") is None  # the first run of the config
    assert previous_complete_run(store_of_runs, "other-config") is None  # complete, but alone
    assert previous_complete_run(store_of_runs, "no-such-run") is None


def test_a_run_without_a_schedule_key_has_no_previous_run(tmp_path):
    config = sweep_config(tmp_path)
    write_manifest(config.store, config, {"work_items_total": 8})  # `patflow run`, not a schedule
    assert previous_complete_run(config.store, config.run_id) is None


def test_compare_with_previous_run_counts_flips_each_way(store_of_runs):
    comparison = compare_with_previous_run(store_of_runs, "nightly-3", resamples=200)
    assert comparison.previous_run_id == "nightly-1"
    # standard: p1, p2 fixed; pat: p3 broken. pass@1: standard 0.25 -> 0.75, pat 1.0 -> 0.75.
    assert comparison.line == (
        "run nightly-3 vs nightly-1: 2 fixed, 1 broken; pass@1 change pat -0.250, standard +0.500"
    )
    assert "# patflow run `nightly-3` against `nightly-1`" in comparison.markdown
    table_rows = [line for line in comparison.markdown.splitlines() if line.startswith("| toy |")]
    assert len(table_rows) == 2
    standard = next(row for row in table_rows if "| standard |" in row)
    assert "| 4 | 2 | 0 | 0.250 → 0.750 | +0.500 [" in standard and "| p1, p2 |" in standard


def test_the_first_run_of_a_config_has_nothing_to_compare_with(store_of_runs, tmp_path):
    comparison = compare_with_previous_run(store_of_runs, "nightly-1")
    assert comparison.previous_run_id is None
    assert comparison.line == f"run nightly-1: first complete run of this config in {store_of_runs}, nothing to compare with"
    assert "Nothing to compare with" in comparison.markdown
    assert schedule_sha256(sweep_config(tmp_path))[:12] in comparison.markdown


def test_the_schedule_key_is_in_the_manifest(store_of_runs, tmp_path):
    from tasks.storage import read_manifest

    assert read_manifest(store_of_runs, "nightly-3")["extra"][SCHEDULE_KEY] == schedule_sha256(sweep_config(tmp_path))


def test_summary_labels_a_policy_with_its_benchmark_and_models_only_when_ambiguous():
    rows = [
        {"dataset_name": "humaneval", "policy": "standard", "generator_model": "a/x", "planner_model": "a/y",
         "fixed": 1, "broken": 0, "pass_at_1_change": 0.1},
        {"dataset_name": "humaneval", "policy": "standard", "generator_model": "a/z", "planner_model": "a/y",
         "fixed": 0, "broken": 2, "pass_at_1_change": -0.2},
        {"dataset_name": "humaneval", "policy": "pat", "generator_model": "a/x", "planner_model": "a/y",
         "fixed": 3, "broken": 0, "pass_at_1_change": 0.3},
    ]  # fmt: skip
    summary = summarize_run_diff(rows, "old", "new")
    assert (summary.fixed, summary.broken) == (4, 2)
    assert summary.line() == (
        "run new vs old: 4 fixed, 2 broken; pass@1 change standard [humaneval, a/x+a/y] +0.100,"
        " standard [humaneval, a/z+a/y] -0.200, pat +0.300"
    )
