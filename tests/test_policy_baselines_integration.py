"""best_of_n, codet, self_debug and funcoder with real parts — the simulator through litellm,
subprocess sandboxes, the chunk writer's Parquet, DuckDB — on HumanEval and MBPP (sanitized),
2 seeds, one store. (Prefect and Dask are covered by test_sweep_integration; here the chunks are
run in-process with ``tasks.sweep.run_chunk``, the function each Prefect task calls.)"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tasks.benchmarks import load_benchmark
from tasks.benchmarks.sources import BUILTIN_SOURCES, locate
from tasks.policies import parse_policy_spec
from tasks.policies.driver import RoleModels
from tasks.records import ModelConfig
from tasks.sweep import WorkItem, chunk_work_items, run_chunk

pytestmark = pytest.mark.integration

POLICIES = ("best_of_n", "codet", "self_debug", "funcoder:planner=sim/large")
PROBLEMS_PER_BENCHMARK = 2
SEEDS = 2

# What each policy may ask per node: {phase: (actions at most, samples per action at most)},
# from the defaults its PARAMS declare (tests/test_policy_*.py check the transitions).
BUDGETS = {
    "best_of_n": {"generate": (1, 5), "write_tests": (3, 1)},
    "codet": {"generate": (3, 11), "write_tests": (3, 1)},
    "self_debug": {"generate": (1, 1), "write_tests": (3, 1), "repair": (3, 1)},
    "funcoder": {"divide": (3, 1), "conquer": (3, 10), "write_tests": (3, 1)},
}


def every_item(problems, specs, models) -> list[WorkItem]:
    return [WorkItem(p.dataset.name, p.task_id, spec, seed, models)
            for p in problems for spec in specs for seed in range(SEEDS)]  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    if locate(BUILTIN_SOURCES["mbpp-sanitized"], None) is None:
        pytest.skip(
            "needs the mbpp-sanitized file: set PATFLOW_DATA_DIR to a directory laid out like"
            " shared/datasets (or put ../shared beside the checkout)"
        )
    root = tmp_path_factory.mktemp("baselines")
    models = RoleModels(ModelConfig("sim/small"), ModelConfig("sim/large"))
    specs = [parse_policy_spec(name) for name in POLICIES]
    for run_id, benchmark in (("he", "humaneval"), ("mbpp", "mbpp-sanitized")):
        problems = load_benchmark(benchmark).problems[:PROBLEMS_PER_BENCHMARK]
        items = every_item(problems, specs, models)
        for chunk in chunk_work_items(run_id, str(root / "runs"), problems, items, chunk_size=8, cache_dir=None):
            run_chunk(chunk)
    return root / "runs"


def rows(store: Path, sql: str) -> list[tuple]:
    con = duckdb.connect()
    for table in ("calls", "verifications", "outcomes"):
        con.execute(
            f"create view {table} as select * from read_parquet('{store}/{table}/**/*.parquet',"
            " hive_partitioning = true, union_by_name = true)"
        )
    return con.execute(sql).fetchall()


def test_every_item_finished_without_harness_errors(store):
    [(items, runs)] = rows(store, "select count(*), count(distinct run_id) from outcomes where run_id in ('he', 'mbpp')")
    assert (items, runs) == (2 * PROBLEMS_PER_BENCHMARK * len(POLICIES) * SEEDS, 2)
    assert rows(store, "select distinct policy from outcomes order by 1") == [(p.split(":")[0],) for p in sorted(POLICIES)]
    bad = rows(store, "select task_id, policy, status, error from outcomes where status like 'error%' or error is not null")
    assert bad == []
    assert rows(store, "select count(*) from verifications where status = 'error:harness'") == [(0,)]
    # Something was actually checked and something passed: the runs did real work.
    [(passed, verified)] = rows(store, "select count(*) filter (where passed), count(*) from outcomes")
    assert 0 < passed <= verified


def test_each_outcomes_cost_is_the_sum_of_its_calls(store):
    mismatched = rows(store, """
        select o.run_id, o.task_id, o.policy, o.seed, o.cost_usd, coalesce(sum(c.cost_usd), 0) as calls_cost
        from outcomes o left join calls c using (run_id, task_id, policy, seed)
        group by all having abs(o.cost_usd - calls_cost) > 1e-12""")
    assert mismatched == []
    [(total,)] = rows(store, "select sum(cost_usd) from outcomes")
    assert total > 0


def test_no_item_makes_more_calls_than_its_parameters_allow(store):
    budget_rows = ", ".join(
        f"('{policy}', '{phase}', {actions}, {samples})"
        for policy, phases in BUDGETS.items()
        for phase, (actions, samples) in phases.items()
    )
    over = rows(store, f"""
        with budget(policy, phase, max_actions, max_samples) as (values {budget_rows}),
        per_action as (
            select run_id, task_id, policy, seed, phase, node_id, attempt, count(*) as samples
            from calls group by all),
        per_node as (
            select run_id, task_id, policy, seed, phase, node_id,
                   count(*) as actions, max(samples) as samples
            from per_action group by all)
        select n.*, b.max_actions, b.max_samples from per_node n left join budget b using (policy, phase)
        where b.max_actions is null or n.actions > b.max_actions or n.samples > b.max_samples""")
    assert over == [], over
    # Tree nodes: calls name no more nodes than the outcome recorded.
    too_many_nodes = rows(store, """
        select o.run_id, o.task_id, o.policy, o.seed, o.nodes, count(distinct c.node_id) as named
        from outcomes o join calls c using (run_id, task_id, policy, seed)
        group by all having named > o.nodes""")
    assert too_many_nodes == []
    # Planner use: only funcoder divides, and only the planner divides.
    assert rows(store, "select distinct policy, phase from calls where role = 'planner'") == [("funcoder", "divide")]


def test_same_seed_without_cache_gives_identical_outcomes(store):
    """The tie-breaks (codet, funcoder) are seeded by the work item, never by the process."""
    models = RoleModels(ModelConfig("sim/small"), ModelConfig("sim/large"))
    specs = [parse_policy_spec(name) for name in POLICIES]
    problems = load_benchmark("humaneval").problems[:PROBLEMS_PER_BENCHMARK]
    items = every_item(problems, specs, models)
    for chunk in chunk_work_items("he-again", str(store), problems, items, chunk_size=8, cache_dir=None):
        run_chunk(chunk)
    columns = "task_id, policy, seed, passed, status, final_program, selected_tests_passed, nodes"
    first = rows(store, f"select {columns} from outcomes where run_id = 'he' order by all")
    second = rows(store, f"select {columns} from outcomes where run_id = 'he-again' order by all")
    assert first == second and len(first) == PROBLEMS_PER_BENCHMARK * len(POLICIES) * SEEDS


def test_funcoder_runs_each_candidate_input_and_unit_suite_at_most_once(store):
    # Per node and candidate: the inputs its execute rows cover add up to at most the node's
    # inputs (a resumed run covers only what the first run skipped), and each unit-test source
    # verifies a candidate at most once. Execute rows carry their sandbox time.
    over = rows(store, """
        with per_candidate as (
            select run_id, task_id, seed, node_id, sample_index,
                   sum(tests_total) filter (where step = first_step) as first_inputs,
                   count(*) filter (where step <> first_step) as resumed_runs
            from (select *, min(step) over (partition by run_id, task_id, seed, node_id) as first_step
                  from verifications where policy = 'funcoder' and phase = 'execute')
            group by all)
        select * from per_candidate where resumed_runs > first_inputs""")
    assert over == []
    twice = rows(store, """
        select run_id, task_id, seed, node_id, sample_index, test_source, count(*) from verifications
        where policy = 'funcoder' and phase = 'verify' group by all having count(*) > 1""")
    assert twice == []
    [(executes, timed)] = rows(store, """
        select count(*), count(*) filter (where duration_ms > 0) from verifications
        where policy = 'funcoder' and phase = 'execute'""")
    assert executes > 0 and timed == executes


class _NoSlot:
    """A sandbox slot that may not be taken: what a cached rerun must never need."""

    async def __aenter__(self):
        raise AssertionError("a cached rerun took a sandbox slot")

    async def __aexit__(self, *exc_info):
        return False


def test_a_cached_rerun_takes_no_sandbox_slot_and_runs_nothing(store, tmp_path, monkeypatch):
    """Every verification and call run of the second run comes from the verdict cache on the
    event loop: none waits for a sandbox slot or a thread (funcoder executes, codet verifies
    generated tests, both score on the hidden suites)."""
    import tasks.models.sim as sim
    import tasks.sweep as sweep

    monkeypatch.setitem(sim.MUTATION_WEIGHTS, "infinite_loop", 0.0)  # a timeout is never cached
    models = RoleModels(ModelConfig("sim/small"), ModelConfig("sim/large"))
    specs = [parse_policy_spec(name) for name in ("funcoder:planner=sim/large", "codet")]
    problems = load_benchmark("humaneval").problems[:PROBLEMS_PER_BENCHMARK]
    items = every_item(problems, specs, models)

    def run(run_id: str):
        chunks = chunk_work_items(run_id, str(store), problems, items, chunk_size=len(items),
                                  cache_dir=str(tmp_path / "cache"))  # fmt: skip
        return [run_chunk(chunk) for chunk in chunks]

    [first] = run("cached-first")
    assert first.sandbox_executions > 0
    monkeypatch.setattr(sweep, "_loop_verify_slots", lambda concurrency: _NoSlot())
    [again] = run("cached-again")
    assert again.sandbox_executions == 0 and again.verdicts_cached >= first.sandbox_executions
    columns = "task_id, policy, seed, passed, status, final_program"
    assert rows(store, f"select {columns} from outcomes where run_id = 'cached-first' order by all") == rows(
        store, f"select {columns} from outcomes where run_id = 'cached-again' order by all"
    )
    [(executes,)] = rows(store, "select count(*) from verifications where run_id = 'cached-again' and phase = 'execute'")
    assert executes > 0  # funcoder's call runs were among what the cache answered
