"""Golden tests of the analysis queries: policy_comparison, pareto, cost_breakdown,
planner_trigger, planner_error_types, failure_modes, paired and run_diff.

One hand-built store (two runs, two benchmarks, three configurations); every expected number is
computed here in plain Python from the WorkItemResults. The bootstrap is re-implemented with
NumPy (same seed, same draws: ``integers(0, n, (resamples, n))``, linear quantiles) and McNemar's
p-value is summed from binomial coefficients, so neither the SQL nor scipy checks itself.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from statistics import mean, stdev

import numpy as np
import pytest
from storage_builders import Call, Check, make_item

from tasks.analysis.named import run_named
from tasks.records import DatasetInfo
from tasks.storage import QueryError, connect, write_chunk

TOY2 = DatasetInfo(name="toy2", version="0.1", content_sha256="12" * 32)
CONFIGS = (  # (policy, generator, planner)
    ("standard", "sim/small", "sim/large"),
    ("pat", "sim/small", "sim/large"),
    ("standard", "sim/large", "sim/large"),
)
STATUSES = ("failed", "error:ValueError", "timeout", "syntax_error", "memory_exceeded")


def build_items():
    rng = random.Random(13)
    items = []
    for run_id in ("r1", "r2"):
        for dataset, tasks in ((None, [f"p{i}" for i in range(7)]), (TOY2, ["q0", "q1", "q2"])):
            if run_id == "r2" and dataset is TOY2:
                continue
            extra = {} if dataset is None else {"dataset": dataset}
            for task in tasks:
                for seed in (0, 1):
                    small_ok = rng.random() < 0.45
                    for policy, generator, planner in CONFIGS:
                        weight = 8.0 if generator == "sim/small" else 70.0
                        gen = Call("generator", rng.randint(80, 160), rng.randint(10, 50),
                                   rng.random() / 100, weight, "generate")
                        calls, checks = [gen], []
                        root_trial = None
                        passed = small_ok if generator == "sim/small" else rng.random() < 0.8
                        if policy == "pat":
                            tests = Call("generator", 90, 30, 0.001, weight, "write_tests")
                            calls.append(tests)
                            root_trial = small_ok and rng.random() < 0.85
                            trial_status = "passed" if root_trial else rng.choice(STATUSES)
                            checks.append(Check("generated", root_trial, trial_status))
                            if not root_trial:
                                calls += [
                                    Call("planner", rng.randint(300, 500), rng.randint(60, 90),
                                         rng.random() / 20, 70.0, "decompose"),
                                    Call("generator", 120, 40, rng.random() / 100, weight,
                                         "generate", node_id="root.0", parent_node_id="root",
                                         depth=1),
                                    Call("generator", 100, 30, 0.002, weight, "repair",
                                         node_id="root.0", depth=1, attempt=1),
                                ]
                                checks.append(Check("generated", True, depth=1, node_id="root.0"))
                                passed = rng.random() < 0.6
                            else:
                                passed = small_ok
                        status = "passed" if passed else rng.choice(STATUSES)
                        checks.append(Check("hidden:base", passed, status, phase="score"))
                        suites = (("base", passed),)
                        if task != "p6":
                            suites += (("plus", passed and rng.random() < 0.8),)
                        items.append(make_item(
                            task, policy, seed, run_id=run_id, generator=generator,
                            planner=planner, calls=tuple(calls), checks=tuple(checks),
                            suites=suites, status=status if not passed else None,
                            planner_invoked=root_trial is False, root_trial_passed=root_trial,
                            accepted_unverified=policy == "standard" and rng.random() < 0.3,
                            **extra))
    return items


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    store = tmp_path_factory.mktemp("analysis") / "store"
    items = build_items()
    for run_id in ("r1", "r2"):
        run_items = [i for i in items if i.run_id == run_id]
        write_chunk(store, run_items[: len(run_items) // 2])
        write_chunk(store, run_items[len(run_items) // 2:])
    return store, items


def close(a, b, tol=1e-9):
    if b is None:
        return a is None
    return a is not None and math.isclose(a, b, rel_tol=tol, abs_tol=1e-12)


def config_of(item):
    return (item.run_id, item.dataset.name, item.policy.label, item.generator_model,
            item.planner_model)


def cost(item, field="cost_usd"):
    return sum(getattr(c, field) for c in item.calls)


def weighted(item):
    return sum(c.cost_weight * (c.input_tokens + c.output_tokens) for c in item.calls)


# --------------------------------------------------------------------------- bootstrap, by hand
def numpy_bootstrap(columns, statistic, resamples=1000, seed=0, confidence=0.95):
    arrays = [np.asarray(c, dtype=float) for c in columns]
    n = len(arrays[0])
    if n < 2:
        return None, None
    index = np.random.default_rng(seed).integers(0, n, (resamples, n))
    alpha = (1 - confidence) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        values = statistic(*[a[index] for a in arrays])
        low, high = np.quantile(values, [alpha, 1 - alpha])
    # a resample with no solved problem has no cost per solved problem: the bound is unknown
    return tuple(float(v) if np.isfinite(v) else None for v in (low, high))


def mean_stat(a):
    return a.mean(axis=1)


def ratio_stat(a, b):
    return a.mean(axis=1) / b.mean(axis=1)


def difference_stat(a, b):
    return a.mean(axis=1) - b.mean(axis=1)


def binomial_two_sided_p(k, n):
    """Exact two-sided binomial p at p = 0.5: the outcomes no more likely than k, summed."""
    if n == 0:
        return 1.0
    probabilities = [math.comb(n, i) / 2**n for i in range(n + 1)]
    observed = probabilities[k]
    return min(1.0, sum(p for p in probabilities if p <= observed * (1 + 1e-7)))


# --------------------------------------------------------------------------- policy_comparison
def per_problem(group):
    by_task = defaultdict(list)
    for item in group:
        by_task[item.task_id].append(item)
    return {task: tasks for task, tasks in sorted(by_task.items())}


def expected_comparison(items, resamples=1000, seed=0):
    groups = defaultdict(list)
    for item in items:
        groups[config_of(item)].append(item)
    rows = {}
    for key, group in groups.items():
        problems = per_problem(group)
        passes = [mean(i.outcome.passed for i in p) for p in problems.values()]
        costs = [mean(cost(i) for i in p) for p in problems.values()]
        weights = [mean(weighted(i) for i in p) for p in problems.values()]
        run_id, dataset, _, generator, _ = key
        reference = per_problem([i for i in items if config_of(i)[:2] == (run_id, dataset)
                                 and i.policy.label == "standard" and i.generator_model == generator])
        shared = [t for t in problems if t in reference]
        ref_cost = [mean(cost(i) for i in reference[t]) for t in shared]
        ref_weight = [mean(weighted(i) for i in reference[t]) for t in shared]
        own_cost = [mean(cost(i) for i in problems[t]) for t in shared]
        own_weight = [mean(weighted(i) for i in problems[t]) for t in shared]
        seeds = sorted({i.seed for i in group})
        per_seed = [mean(i.outcome.passed for i in group if i.seed == s) for s in seeds]
        options = {"resamples": resamples, "seed": seed}
        calls = [(i, c) for p in problems.values() for i in p for c in i.calls]
        rows[key] = {
            "problems": len(problems), "seeds": len(seeds), "work_items": len(group),
            "pass_at_1": mean(passes),
            "pass_at_1_base": mean(mean(dict(i.outcome.suites_passed)["base"] for i in p)
                                   for p in problems.values()),
            "seed_pass_at_1_mean": mean(per_seed),
            "mean_input_tokens": mean(mean(sum(c.input_tokens for c in i.calls) for i in p)
                                      for p in problems.values()),
            "mean_output_tokens": mean(mean(sum(c.output_tokens for c in i.calls) for i in p)
                                       for p in problems.values()),
            "mean_generator_cost_usd": mean(mean(sum(c.cost_usd for c in i.calls
                                                     if c.role == "generator") for i in p)
                                            for p in problems.values()),
            "mean_billed_cost_usd": mean(mean(sum(c.cost_usd for c in i.calls if not c.cached)
                                              for i in p) for p in problems.values()),
            "pass_at_1_plus": mean(mean(dict(i.outcome.suites_passed)["plus"] for i in p)
                                   for p in problems.values()
                                   if "plus" in dict(p[0].outcome.suites_passed)),
            "seed_pass_at_1_sd": stdev(per_seed) if len(per_seed) > 1 else None,
            "seed_pass_at_1_min": min(per_seed), "seed_pass_at_1_max": max(per_seed),
            "mean_planner_cost_usd": mean(mean(sum(c.cost_usd for c in i.calls
                                                   if c.role == "planner") for i in p)
                                          for p in problems.values()),
            "mean_cost_usd": mean(costs),
            "cost_per_solved_usd": mean(costs) / mean(passes) if mean(passes) else None,
            "cost_relative_to_reference": sum(own_cost) / sum(ref_cost),
            "weighted_cost_relative_to_reference": sum(own_weight) / sum(ref_weight),
            "mean_weighted_tokens": mean(weights),
            "planner_invocation_rate": mean(i.outcome.planner_invoked for i in group),
        }
        intervals = (
            (("pass_at_1_low", "pass_at_1_high"), numpy_bootstrap([passes], mean_stat, **options)),
            (("mean_cost_usd_low", "mean_cost_usd_high"),
             numpy_bootstrap([costs], mean_stat, **options)),
            (("cost_per_solved_usd_low", "cost_per_solved_usd_high"),
             numpy_bootstrap([costs, passes], ratio_stat, **options)),
            (("cost_relative_low", "cost_relative_high"),
             numpy_bootstrap([own_cost, ref_cost], ratio_stat, **options)),
            (("weighted_relative_low", "weighted_relative_high"),
             numpy_bootstrap([own_weight, ref_weight], ratio_stat, **options)),
        )
        for (low_name, high_name), (low, high) in intervals:
            rows[key][low_name], rows[key][high_name] = low, high
    return rows


@pytest.mark.parametrize("resamples, seed", [(None, None), ("300", "5")])
def test_policy_comparison_matches_python(golden, resamples, seed):
    store, items = golden
    params = {k: v for k, v in (("resamples", resamples), ("bootstrap_seed", seed)) if v}
    table = run_named(str(store), "policy_comparison", params)
    actual = {(r["run_id"], r["dataset_name"], r["policy"], r["generator_model"],
               r["planner_model"]): r for r in table.to_pylist()}
    expected = expected_comparison(items, int(resamples or 1000), int(seed or 0))
    assert actual.keys() == expected.keys()
    for key, want in expected.items():
        row = actual[key]
        for name, value in want.items():
            assert close(row[name], value), (key, name, row[name], value)
    reference = actual[("r1", "toy", "standard", "sim/small", "sim/large")]
    assert reference["cost_relative_to_reference"] == pytest.approx(1.0)
    pat = actual[("r1", "toy", "pat", "sim/small", "sim/large")]
    assert pat["pass_at_1_low"] < pat["pass_at_1"] < pat["pass_at_1_high"]


def test_policy_comparison_reference_generator_and_bad_parameters(golden):
    store, items = golden
    rows = run_named(str(store), "policy_comparison",
                     {"reference_generator": "sim/large", "run_id": "r1"}).to_pylist()
    assert {r["run_id"] for r in rows} == {"r1"}
    large = next(r for r in rows if r["generator_model"] == "sim/large" and r["dataset_name"] == "toy")
    assert large["cost_relative_to_reference"] == pytest.approx(1.0)
    pat = next(r for r in rows if r["policy"] == "pat" and r["dataset_name"] == "toy")
    pat_items = [i for i in items if config_of(i) == ("r1", "toy", "pat", "sim/small", "sim/large")]
    large_items = [i for i in items if config_of(i) == ("r1", "toy", "standard", "sim/large",
                                                         "sim/large")]
    assert pat["cost_relative_to_reference"] == pytest.approx(
        sum(map(cost, pat_items)) / sum(map(cost, large_items)))
    with pytest.raises(QueryError, match="resamples"):
        run_named(str(store), "policy_comparison", {"resamples": "0"})
    with pytest.raises(QueryError, match="wrong type"):
        run_named(str(store), "policy_comparison", {"resamples": "many"})


def test_policy_comparison_weighted_is_null_when_a_weight_is_missing(store):
    write_chunk(store, [
        make_item("a", "standard", calls=(Call("generator", 10, 5, 0.1, None),)),
        make_item("b", "standard", calls=(Call("generator", 10, 5, 0.1, 1.0),)),
    ])
    (row,) = run_named(str(store), "policy_comparison", {}).to_pylist()
    assert row["mean_weighted_tokens"] is None
    assert row["weighted_cost_relative_to_reference"] is None
    assert row["weighted_relative_low"] is None and row["mean_cost_usd_low"] == 0.1


# --------------------------------------------------------------------------- pareto
def test_pareto_matches_python(golden):
    store, items = golden
    for measure in ("usd", "weighted"):
        points = defaultdict(dict)
        groups = defaultdict(list)
        for item in items:
            for scope in (item.dataset.name, "(all)"):
                groups[(item.run_id, scope, item.policy.label, item.generator_model,
                        item.planner_model)].append(item)
        for key, group in groups.items():
            problems = defaultdict(list)
            for item in group:
                problems[(item.dataset.name, item.task_id)].append(item)
            measure_of = cost if measure == "usd" else weighted
            points[key[:2]][key[2:]] = (mean(mean(i.outcome.passed for i in p) for p in problems.values()),
                                        mean(mean(measure_of(i) for i in p) for p in problems.values()))
        rows = run_named(str(store), "pareto", {"cost_measure": measure,
                                                "include_dominated": "true"}).to_pylist()
        actual = {(r["run_id"], r["scope"], r["policy"], r["generator_model"], r["planner_model"]): r
                  for r in rows}
        expected_keys = {scope + config for scope, configs in points.items() for config in configs}
        assert actual.keys() == expected_keys
        frontier_count = 0
        for scope, configs in points.items():
            for config, (accuracy, spend) in configs.items():
                row = actual[scope + config]
                dominated = any(a >= accuracy and c <= spend and (a > accuracy or c < spend)
                                for other, (a, c) in configs.items() if other != config)
                assert close(row["pass_at_1"], accuracy) and close(row["cost"], spend)
                assert row["on_frontier"] is (not dominated), (scope, config)
                assert (row["dominated_by"] is None) is (not dominated)
                frontier_count += not dominated
        only_frontier = run_named(str(store), "pareto", {"cost_measure": measure}).to_pylist()
        assert len(only_frontier) == frontier_count and all(r["on_frontier"] for r in only_frontier)
    assert {r["scope"] for r in rows} == {"toy", "toy2", "(all)"}


def test_pareto_dominated_by_names_the_best_dominator(store):
    write_chunk(store, [
        make_item("a", "standard", calls=(Call("generator", 10, 5, 1.0),), suites=(("base", True),)),
        make_item("a", "pat", calls=(Call("generator", 10, 5, 2.0),), suites=(("base", False),)),
        make_item("a", "cheap", calls=(Call("generator", 10, 5, 0.5),), suites=(("base", False),)),
    ])
    rows = {r["policy"]: r for r in run_named(str(store), "pareto",
                                                 {"include_dominated": "true"}).to_pylist()
            if r["scope"] == "toy"}
    assert rows["pat"]["dominated_by"] == "standard [sim/small + sim/large]"
    assert rows["standard"]["on_frontier"] and rows["cheap"]["on_frontier"]


# --------------------------------------------------------------------------- cost_breakdown
def role_bucket(call):
    if call.phase == "write_tests":
        return "test writer"
    if call.phase == "repair":
        return "repair"
    return call.role


def test_cost_breakdown_matches_python(golden):
    store, items = golden
    rows = {(r["run_id"], r["dataset_name"], r["policy"], r["generator_model"], r["planner_model"],
             r["dimension"], r["bucket"]): r
            for r in run_named(str(store), "cost_breakdown", {}).to_pylist()}
    sums = defaultdict(lambda: [0, 0, 0, 0.0, 0.0])
    problems = defaultdict(set)
    for item in items:
        problems[config_of(item)].add(item.task_id)
        for call in item.calls:
            for dimension, bucket in (("role", role_bucket(call)), ("phase", call.phase),
                                      ("depth", str(call.depth))):
                entry = sums[config_of(item) + (dimension, bucket)]
                entry[0] += 1
                entry[1] += call.input_tokens
                entry[2] += call.output_tokens
                entry[3] += call.cost_usd
                entry[4] += call.cost_weight * (call.input_tokens + call.output_tokens)
    assert rows.keys() == sums.keys()
    totals = defaultdict(float)
    for key, (_, _, _, spend, _) in sums.items():
        totals[key[:6]] += spend
    for key, (calls, tokens_in, tokens_out, spend, weight) in sums.items():
        row = rows[key]
        assert (row["calls"], row["input_tokens"], row["output_tokens"]) == (calls, tokens_in, tokens_out)
        assert close(row["cost_usd"], spend) and close(row["weighted_tokens"], weight)
        assert close(row["mean_cost_usd_per_problem"], spend / len(problems[key[:5]]))
        assert close(row["mean_tokens_per_problem"], (tokens_in + tokens_out) / len(problems[key[:5]]))
        assert close(row["share_of_cost"], spend / totals[key[:6]])
        assert row["share_of_tokens"] is not None
    pat_roles = {k[6] for k in rows if k[2] == "pat" and k[5] == "role"}
    assert pat_roles == {"generator", "planner", "test writer", "repair"}
    only_pat = run_named(str(store), "cost_breakdown", {"policy": "pat", "run_id": "r2"})
    assert set(only_pat.column("policy").to_pylist()) == {"pat"}
    assert set(only_pat.column("run_id").to_pylist()) == {"r2"}


# --------------------------------------------------------------------------- planner_trigger
def test_planner_trigger_matches_python(golden):
    store, items = golden
    baseline = {(i.run_id, i.dataset.name, i.task_id, i.seed, i.generator_model): i.outcome.passed
                for i in items if i.policy.label == "standard"}
    groups = defaultdict(list)
    for item in items:
        if item.outcome.root_trial_passed is not None:
            groups[config_of(item)].append(item)
    rows = {(r["run_id"], r["dataset_name"], r["policy"], r["generator_model"], r["planner_model"]): r
            for r in run_named(str(store), "planner_trigger", {}).to_pylist()}
    assert rows.keys() == groups.keys() and all(k[2] == "pat" for k in rows)
    for key, group in groups.items():
        matrix = Counter((i.outcome.root_trial_passed, i.outcome.passed) for i in group)
        fired = [i for i in group if not i.outcome.root_trial_passed]
        first = [baseline[(i.run_id, i.dataset.name, i.task_id, i.seed, i.generator_model)]
                 for i in fired]
        tp = sum(not ok for ok in first)
        fp = sum(first)
        fn = matrix[(True, False)]
        row = rows[key]
        assert row["work_items"] == len(group)
        assert row["trial_passed_hidden_passed"] == matrix[(True, True)]
        assert row["trial_passed_hidden_failed"] == fn
        assert row["trial_failed_hidden_passed"] == matrix[(False, True)]
        assert row["trial_failed_hidden_failed"] == matrix[(False, False)]
        assert close(row["trigger_rate"], len(fired) / len(group))
        assert close(row["planner_success_given_failed_trial"],
                     matrix[(False, True)] / len(fired) if fired else None)
        assert (row["trigger_true_positives"], row["trigger_false_positives"]) == (tp, fp)
        assert (row["trigger_false_negatives"], row["trigger_true_negatives"]) == (
            fn, matrix[(True, True)])
        assert close(row["trigger_precision"], tp / (tp + fp) if tp + fp else None)
        assert close(row["trigger_recall"], tp / (tp + fn) if tp + fn else None)
        assert row["trial_right_planning_made_wrong"] == sum(
            ok and not i.outcome.passed for ok, i in zip(first, fired))
        assert row["triggered_without_baseline"] == 0
    assert any(r["trial_right_planning_made_wrong"] for r in rows.values())
    assert all(r["trigger_false_positives"] + r["trigger_true_positives"] > 0 for r in rows.values())


def test_planner_error_types_matches_python(golden):
    store, items = golden
    counts = Counter()
    per_config = Counter()
    for item in items:
        if item.outcome.root_trial_passed is False:
            before = next(v.verdict.status for v in item.verifications
                          if not v.verdict.passed and v.phase == "verify" and v.depth == 0)
            counts[config_of(item) + (before, item.outcome.status)] += 1
            per_config[config_of(item)] += 1
    rows = run_named(str(store), "planner_error_types", {}).to_pylist()
    actual = {(r["run_id"], r["dataset_name"], r["policy"], r["generator_model"], r["planner_model"],
               r["before_status"], r["after_status"]): r for r in rows}
    assert actual.keys() == counts.keys()
    for key, n in counts.items():
        assert actual[key]["work_items"] == n
        assert close(actual[key]["share"], n / per_config[key[:5]])
    assert {k[5] for k in counts} <= set(STATUSES) and len({k[5] for k in counts}) > 2


# --------------------------------------------------------------------------- failure_modes
def category(status):
    if status == "passed":
        return "passed"
    if status == "failed":
        return "wrong_answer"
    if status.startswith("error:"):
        return "exception"
    return {"memory_exceeded": "resource_limit", "output_limit": "resource_limit"}.get(status, status)


def test_failure_modes_matches_python(golden):
    store, items = golden
    groups = defaultdict(list)
    for item in items:
        groups[config_of(item) + (item.outcome.status,)].append(item)
    per_config = Counter(config_of(i) for i in items)
    failures = Counter(config_of(i) for i in items if not i.outcome.passed)
    rows = {(r["run_id"], r["dataset_name"], r["policy"], r["generator_model"], r["planner_model"],
             r["status"]): r for r in run_named(str(store), "failure_modes", {}).to_pylist()}
    assert rows.keys() == groups.keys()
    for key, group in groups.items():
        row = rows[key]
        status = key[5]
        assert row["category"] == category(status)
        assert row["exception_type"] == (status.split(":", 1)[1] if status.startswith("error:") else None)
        assert row["work_items"] == len(group)
        assert close(row["share"], len(group) / per_config[key[:5]])
        assert close(row["share_of_failures"],
                     None if status == "passed" else len(group) / failures[key[:5]])
        assert row["accepted_unverified"] == sum(i.outcome.accepted_unverified for i in group)
        assert row["example_task_ids"] == sorted({i.task_id for i in group})[:3]
    assert {r["category"] for r in rows.values()} >= {"passed", "wrong_answer", "exception",
                                                      "timeout", "syntax_error", "resource_limit"}
    only = run_named(str(store), "failure_modes", {"policy": "pat", "run_id": "r2"}).to_pylist()
    assert {(r["policy"], r["run_id"]) for r in only} == {("pat", "r2")}


def test_failure_modes_model_error(store):
    write_chunk(store, [make_item("a", "standard", suites=(("base", False),), status="error:model",
                                  error="model call failed")])
    (row,) = run_named(str(store), "failure_modes", {}).to_pylist()
    assert (row["category"], row["exception_type"], row["share_of_failures"]) == ("model_error", None, 1.0)


# --------------------------------------------------------------------------- paired
def test_paired_matches_python_and_a_direct_binomial(golden):
    store, items = golden
    params = {"policy_a": "pat", "policy_b": "standard", "generator_b": "sim/large"}
    rows = run_named(str(store), "paired", params).to_pylist()
    for run_id in ("r1", "r2"):
        for dataset in {i.dataset.name for i in items if i.run_id == run_id}:
            def outcomes(policy, generator):
                return {(i.task_id, i.seed): i.outcome.passed for i in items
                        if (i.run_id, i.dataset.name, i.policy.label, i.generator_model)
                        == (run_id, dataset, policy, generator)}
            a, b = outcomes("pat", "sim/small"), outcomes("standard", "sim/large")
            table = Counter((a[k], b[k]) for k in a.keys() & b.keys())
            (row,) = [r for r in rows if (r["run_id_a"], r["dataset_name"]) == (run_id, dataset)]
            assert row["run_id_b"] == run_id and row["pairs"] == len(a.keys() & b.keys())
            assert (row["both"], row["only_a"], row["only_b"], row["neither"]) == (
                table[(True, True)], table[(True, False)], table[(False, True)], table[(False, False)])
            assert close(row["pass_rate_a"], mean(a[k] for k in a.keys() & b.keys()))
            assert close(row["pass_rate_b"], mean(b[k] for k in a.keys() & b.keys()))
            assert (row["generator_a"], row["planner_a"]) == ("sim/small", "sim/large")
            assert (row["generator_b"], row["planner_b"]) == ("sim/large", "sim/large")
            discordant = table[(True, False)] + table[(False, True)]
            assert close(row["mcnemar_p"], binomial_two_sided_p(table[(True, False)], discordant), 1e-6)
    assert len(rows) == 3 and any(r["mcnemar_p"] < 1 for r in rows)


def test_paired_across_runs_and_same_config_is_not_paired_with_itself(golden):
    store, _ = golden
    across = run_named(str(store), "paired", {"policy_a": "pat", "policy_b": "pat",
                                              "run_id_a": "r1", "run_id_b": "r2"}).to_pylist()
    assert [(r["run_id_a"], r["run_id_b"], r["dataset_name"]) for r in across] == [("r1", "r2", "toy")]
    same = run_named(str(store), "paired", {"policy_a": "pat", "policy_b": "pat"}).to_pylist()
    assert same == []
    with pytest.raises(QueryError, match="policy_b is required"):
        run_named(str(store), "paired", {"policy_a": "pat"})


def test_mcnemar_examples_against_direct_binomial():
    from tasks.analysis.stats import mcnemar_exact_p

    for only_a, only_b in ((0, 0), (5, 0), (3, 7), (10, 10), (1, 12), (40, 25)):
        assert mcnemar_exact_p(only_a, only_b) == pytest.approx(
            binomial_two_sided_p(only_a, only_a + only_b), rel=1e-6)


# --------------------------------------------------------------------------- run_diff
def test_run_diff_matches_python(golden):
    store, items = golden
    rows = run_named(connect(store, ["r1", "r2"]), "run_diff",
                     {"run_a": "r1", "run_b": "r2", "resamples": "500"}).to_pylist()
    by_key = {(i.run_id, i.dataset.name, i.policy.label, i.generator_model, i.planner_model,
               i.task_id, i.seed): i for i in items}
    configs = {config_of(i)[1:] for i in items if i.run_id == "r2"}
    assert {(r["dataset_name"], r["policy"], r["generator_model"], r["planner_model"])
            for r in rows} == configs
    for row in rows:
        config = (row["dataset_name"], row["policy"], row["generator_model"], row["planner_model"])
        pairs = [(by_key[("r1", *config, t, s)], by_key[("r2", *config, t, s)])
                 for (run, *rest, t, s) in by_key if run == "r1" and tuple(rest) == config
                 and ("r2", *config, t, s) in by_key]
        fixed = [b.task_id for a, b in pairs if not a.outcome.passed and b.outcome.passed]
        broken = [b.task_id for a, b in pairs if a.outcome.passed and not b.outcome.passed]
        assert (row["pairs"], row["fixed"], row["broken"]) == (len(pairs), len(fixed), len(broken))
        assert row["fixed_task_ids"] == sorted(set(fixed))
        assert row["broken_task_ids"] == sorted(set(broken))
        tasks = sorted({a.task_id for a, _ in pairs})
        pass_a = [mean(a.outcome.passed for a, _ in pairs if a.task_id == t) for t in tasks]
        pass_b = [mean(b.outcome.passed for _, b in pairs if b.task_id == t) for t in tasks]
        cost_a = [mean(cost(a) for a, _ in pairs if a.task_id == t) for t in tasks]
        cost_b = [mean(cost(b) for _, b in pairs if b.task_id == t) for t in tasks]
        assert close(row["pass_at_1_a"], mean(pass_a)) and close(row["pass_at_1_b"], mean(pass_b))
        assert close(row["mean_cost_usd_a"], mean(cost_a))
        assert close(row["mean_cost_usd_b"], mean(cost_b))
        assert close(row["pass_at_1_change"], mean(pass_b) - mean(pass_a))
        assert close(row["mean_cost_change"], mean(cost_b) - mean(cost_a))
        low, high = numpy_bootstrap([pass_b, pass_a], difference_stat, resamples=500)
        assert close(row["pass_at_1_change_low"], low) and close(row["pass_at_1_change_high"], high)
        low, high = numpy_bootstrap([cost_b, cost_a], difference_stat, resamples=500)
        assert close(row["mean_cost_change_low"], low) and close(row["mean_cost_change_high"], high)
        assert close(row["mcnemar_p"], binomial_two_sided_p(len(fixed), len(fixed) + len(broken)), 1e-6)
    assert any(r["fixed"] for r in rows) and any(r["broken"] for r in rows)


def test_run_diff_of_a_run_with_itself_has_no_flips(golden):
    store, _ = golden
    rows = run_named(str(store), "run_diff", {"run_a": "r2", "run_b": "r2"}).to_pylist()
    assert rows and all(r["fixed"] == r["broken"] == 0 and r["mcnemar_p"] == 1.0 for r in rows)
    assert all(r["pass_at_1_change_low"] == r["pass_at_1_change_high"] == 0 for r in rows)
