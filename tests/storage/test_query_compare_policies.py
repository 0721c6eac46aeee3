"""Golden test of queries/compare_policies.sql: expected numbers computed here in plain Python."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from statistics import mean

import pytest
from storage_builders import Call, Check, make_item

from tasks.storage import QueryError, connect, run_query, write_chunk


def build_items():
    """Run r1: standard vs pat (sim/small + sim/large), 3 problems x 2 seeds, suites base/plus.
    Run r2: pat only with another generator and one call lacking a cost weight."""
    rng = random.Random(7)
    items = []
    for task in ("p0", "p1", "p2"):
        for seed in (0, 1):
            has_plus = task != "p2"
            base_ok, plus_ok = rng.random() < 0.6, rng.random() < 0.5
            suites = (("base", base_ok),) + ((("plus", plus_ok),) if has_plus else ())
            gen = Call("generator", rng.randint(50, 150), rng.randint(10, 40),
                       cost_usd=rng.random() / 100, cost_weight=1.0)
            items.append(make_item(task, "standard", seed, calls=(gen,), suites=suites,
                                   checks=(Check("public", base_ok), Check("hidden:base", base_ok))))
            trial_ok = rng.random() < 0.5
            calls = [Call("generator", gen.input_tokens, gen.output_tokens, gen.cost_usd, 1.0, cached=True)]
            if not trial_ok:
                calls += [
                    Call("planner", rng.randint(200, 400), rng.randint(50, 90),
                         cost_usd=rng.random() / 10, cost_weight=8.0, phase="plan"),
                    Call("generator", rng.randint(100, 300), rng.randint(10, 40),
                         cost_usd=rng.random() / 100, cost_weight=1.0, phase="implement"),
                ]
            pat_suites = (("base", base_ok or not trial_ok),) + (
                (("plus", plus_ok or not trial_ok),) if has_plus else ())
            items.append(make_item(task, "pat", seed, calls=tuple(calls), suites=pat_suites,
                                   planner_invoked=not trial_ok, replans=0))
    # p0 seed 1 of pat has an extra seed-only problem to make per-problem averaging matter.
    items.append(make_item("p3", "pat", 0, calls=(Call("generator", 10, 10, 0.5, 1.0),),
                           suites=(("base", True),)))
    for task in ("q0", "q1"):
        items.append(make_item(task, "pat", 0, run_id="r2", generator="sim/medium",
                               calls=(Call("generator", 10, 5, 0.2, None),
                                      Call("planner", 30, 5, 0.3, 8.0, phase="plan")),
                               suites=(("base", task == "q0"),), planner_invoked=True))
    return items


def expected_rows(items, reference_policy="standard", reference_generator=None):
    groups = defaultdict(list)
    for item in items:
        groups[(item.run_id, item.policy.name, item.generator_model, item.planner_model)].append(item)

    def item_cost(item, role=None, field="cost_usd"):
        return sum(getattr(c, field) for c in item.calls if role is None or c.role == role)

    def weighted(item):
        if any(c.cost_weight is None for c in item.calls):
            return None
        return sum(c.cost_weight * (c.input_tokens + c.output_tokens) for c in item.calls)

    def per_problem_mean(group, value):
        by_task = defaultdict(list)
        for item in group:
            v = value(item)
            if v is not None:
                by_task[item.task_id].append(v)
        rates = [mean(vs) for vs in by_task.values()]
        return mean(rates) if rates else None

    def suite(item, name):
        flags = dict(item.outcome.suites_passed)
        return float(flags[name]) if name in flags else None

    rows = {}
    for key, group in groups.items():
        weights = [weighted(i) for i in group]
        rows[key] = {
            "problems": len({i.task_id for i in group}),
            "work_items": len(group),
            "pass_at_1": per_problem_mean(group, lambda i: float(i.outcome.passed)),
            "pass_at_1_base": per_problem_mean(group, lambda i: suite(i, "base")),
            "pass_at_1_plus": per_problem_mean(group, lambda i: suite(i, "plus")),
            "mean_generator_input_tokens": mean(item_cost(i, "generator", "input_tokens") for i in group),
            "mean_generator_output_tokens": mean(item_cost(i, "generator", "output_tokens") for i in group),
            "mean_planner_input_tokens": mean(item_cost(i, "planner", "input_tokens") for i in group),
            "mean_planner_output_tokens": mean(item_cost(i, "planner", "output_tokens") for i in group),
            "mean_generator_cost_usd": mean(item_cost(i, "generator") for i in group),
            "mean_planner_cost_usd": mean(item_cost(i, "planner") for i in group),
            "mean_cost_usd": mean(item_cost(i) for i in group),
            "mean_billed_cost_usd": mean(sum(c.cost_usd for c in i.calls if not c.cached) for i in group),
            "planner_invocation_rate": mean(float(i.outcome.planner_invoked) for i in group),
            "mean_weighted_tokens": None if None in weights else mean(weights),
        }
    for (run_id, policy, generator, planner), row in rows.items():
        standard = [r for (rr, p, g, _), r in rows.items()
                    if (rr, p, g) == (run_id, reference_policy, reference_generator or generator)]
        base = standard[0] if standard else None
        row["cost_relative_to_reference"] = (
            row["mean_cost_usd"] / base["mean_cost_usd"] if base else None)
        row["weighted_cost_relative_to_reference"] = (
            row["mean_weighted_tokens"] / base["mean_weighted_tokens"]
            if base and row["mean_weighted_tokens"] is not None else None)
    return rows


def assert_row_matches(actual, expected, key):
    for column, value in expected.items():
        got = actual[column]
        if value is None:
            assert got is None, (key, column, got)
        else:
            assert got is not None and math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-12), (
                key, column, got, value)


@pytest.fixture
def golden_store(store):
    items = build_items()
    write_chunk(store, items[:7])
    write_chunk(store, items[7:13])
    write_chunk(store, [i for i in items if i.run_id == "r2"])
    # An uncommitted chunk (crash before the outcomes file): must change nothing.
    crashed = write_chunk(store, [make_item("p0", "pat", 0, calls=(Call("planner", 10**6, 10**6, 99.0),))])
    crashed.outcomes.unlink()
    return store, items


def test_compare_policies_matches_python(golden_store):
    store, items = golden_store
    table = run_query(store, "compare_policies", {})
    expected = expected_rows(items)
    actual = {(r["run_id"], r["policy"], r["generator_model"], r["planner_model"]): r
              for r in table.to_pylist()}
    assert set(actual) == set(expected)
    for key, row in expected.items():
        assert_row_matches(actual[key], row, key)
    standard = actual[("r1", "standard", "sim/small", "sim/large")]
    assert standard["cost_relative_to_reference"] == pytest.approx(1.0)
    assert standard["weighted_cost_relative_to_reference"] == pytest.approx(1.0)
    pat_r2 = actual[("r2", "pat", "sim/medium", "sim/large")]
    assert pat_r2["pass_at_1_plus"] is None and pat_r2["cost_relative_to_reference"] is None
    assert pat_r2["mean_weighted_tokens"] is None  # a call without a weight: no silent partial sum


def test_compare_policies_reference_parameters(store):
    items = build_items()
    items += [make_item(i.task_id, i.policy.name, i.seed, generator="sim/large",
                        calls=tuple(Call(c.role, c.input_tokens * 2, c.output_tokens, c.cost_usd * 3,
                                         70.0 if c.role == "generator" else c.cost_weight)
                                    for c in i.calls),
                        suites=i.outcome.suites_passed)
              for i in items if i.run_id == "r1"]
    for run_id in ("r1", "r2"):
        write_chunk(store, [i for i in items if i.run_id == run_id])
    for params in ({"reference_policy": "pat"}, {"reference_generator": "sim/large"},
                   {"reference_policy": "pat", "reference_generator": "sim/small"}):
        table = run_query(store, "compare_policies", params)
        expected = expected_rows(items, params.get("reference_policy", "standard"),
                                 params.get("reference_generator"))
        actual = {(r["run_id"], r["policy"], r["generator_model"], r["planner_model"]): r
                  for r in table.to_pylist()}
        assert set(actual) == set(expected)
        for key, row in expected.items():
            assert_row_matches(actual[key], row, key)
    large_standard = run_query(store, "compare_policies", {"reference_generator": "sim/large"})
    ratios = {(r["policy"], r["generator_model"]): r["cost_relative_to_reference"]
              for r in large_standard.to_pylist() if r["run_id"] == "r1"}
    assert ratios[("standard", "sim/large")] == pytest.approx(1.0)
    assert ratios[("standard", "sim/small")] == pytest.approx(1 / 3)


def test_compare_policies_run_id_parameter_and_view_restriction(golden_store):
    store, _ = golden_store
    only_r2 = run_query(store, "compare_policies", {"run_id": "r2"})
    assert only_r2.column("run_id").to_pylist() == ["r2"]
    restricted = run_query(connect(store, ["r1"]), "compare_policies", {})
    assert sorted(restricted.column("policy").to_pylist()) == ["pat", "standard"]
    assert run_query(store, "compare_policies", {"run_id": "nope"}).num_rows == 0


def test_compare_policies_rejects_unknown_parameter(golden_store):
    store, _ = golden_store
    with pytest.raises(QueryError, match=r"unknown parameter \$runid"):
        run_query(store, "compare_policies", {"runid": "r1"})


def test_compare_policies_on_empty_store_is_empty(store):
    assert run_query(store, "compare_policies", {}).num_rows == 0
