"""standard and pat on humaneval and mbpp-sanitized with the real simulator (through litellm)
and the real sandbox, two seeds, into one store; budgets and costs checked in DuckDB."""

from __future__ import annotations


import dataclasses

import pytest

from tasks.benchmarks import load_benchmark
from tasks.benchmarks.sources import BUILTIN_SOURCES, locate
from tasks.policies.driver import RoleModels
from tasks.records import ModelConfig, PolicySpec
from tasks.storage import write_chunk
from tasks.storage.views import connect
from tasks.sweep import ChunkSpec, WorkItem, run_chunk_items

MODELS = RoleModels(ModelConfig("sim/small"), ModelConfig("sim/large"))
POLICIES = (PolicySpec("standard"), PolicySpec("pat", (("test_timeout_s", 1.0),)))
PER_BENCHMARK = 4


def _sweep(store, problems):
    import asyncio

    from tasks.models import ModelClient
    from tasks.models.sim import register_problems
    from tasks.sweep import _price_of
    from tasks.verification import verify

    register_problems(problems)
    items = tuple(WorkItem(p.dataset.name, p.task_id, spec, seed, MODELS) for p in problems for spec in POLICIES
                  for seed in range(2))  # fmt: skip
    results = []
    for dataset in sorted({p.dataset.name for p in problems}):
        chosen = tuple(p for p in problems if p.dataset.name == dataset)
        ids = {p.task_id for p in chosen}
        chunk = ChunkSpec("integration", str(store), chosen, tuple(i for i in items if i.task_id in ids),
                          verify_concurrency=2)  # fmt: skip
        client = ModelClient(cache=None)
        verifier = lambda program, tests, limits: verify(program, tests, time_limits_s=limits)  # noqa: E731
        chunk_results = asyncio.run(run_chunk_items(chunk, client, verifier, _price_of))
        write_chunk(store, chunk_results)
        results.extend(chunk_results)
    return results


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    if locate(BUILTIN_SOURCES["mbpp-sanitized"], None) is None:
        pytest.skip(
            "needs the mbpp-sanitized file: set PATFLOW_DATA_DIR to a directory laid out like"
            " shared/datasets (or put ../shared beside the checkout)"
        )
    problems = []
    for name in ("humaneval", "mbpp-sanitized"):
        problems += list(load_benchmark(name).problems[:PER_BENCHMARK])
    store = tmp_path_factory.mktemp("store")
    return store, problems, _sweep(store, problems)


def test_no_harness_errors_and_every_item_is_stored(swept):
    store, problems, results = swept
    assert len(results) == len(problems) * len(POLICIES) * 2
    assert not [v for r in results for v in r.verifications if v.verdict.status == "error:harness"]
    con = connect(store)
    assert con.execute("select count(*) from outcomes").fetchone()[0] == len(results)


def test_each_outcome_costs_the_sum_of_its_calls(swept):
    store, _, _ = swept
    bad = connect(store).execute(
        """select o.task_id, o.policy, o.seed, o.cost_usd, coalesce(sum(c.cost_usd), 0) as calls
           from outcomes o left join calls c using (run_id, task_id, policy_spec, seed)
           group by all having abs(o.cost_usd - calls) > 1e-12"""
    ).fetchall()
    assert bad == []


def test_no_item_exceeds_its_parameter_budget(swept):
    store, _, _ = swept
    # standard: 1 generator call. pat, per node: 3 trial requests x 5 samples + 3 test requests;
    # per decomposed node: 5 attempts x 3 planner requests.
    over = connect(store).execute(
        """select o.task_id, o.policy, o.seed,
                  count(*) filter (where c.role = 'generator') as generator_calls,
                  count(*) filter (where c.role = 'planner') as planner_calls,
                  count(distinct c.node_id) as nodes_called
           from outcomes o join calls c using (run_id, task_id, policy_spec, seed)
           group by all
           having (o.policy = 'standard' and (generator_calls > 1 or planner_calls > 0))
               or (o.policy like 'pat%' and (generator_calls > nodes_called * (3 * 5 + 3)
                                             or planner_calls > nodes_called * 5 * 3))"""
    ).fetchall()
    assert over == []
    per_node = connect(store).execute(
        """select max(n) from (select count(*) as n from calls where policy like 'pat%'
           and phase = 'decompose' group by run_id, task_id, seed, node_id)"""
    ).fetchone()[0]
    assert per_node is None or per_node <= 15


def test_pat_planner_rate_equals_the_share_of_failed_root_trials(swept):
    store, _, _ = swept
    invoked, failed_root, items = connect(store).execute(
        """select count(*) filter (where planner_invoked),
                  count(*) filter (where root_trial_passed = false), count(*)
           from outcomes where policy like 'pat%'"""
    ).fetchone()
    assert invoked == failed_root and items > 0


def test_same_seed_cache_off_gives_identical_outcomes(swept, tmp_path):
    store, problems, first = swept
    again = _sweep(tmp_path / "again", problems)

    def comparable(result):
        return dataclasses.replace(result.outcome)

    assert [comparable(r) for r in again] == [comparable(r) for r in first]
