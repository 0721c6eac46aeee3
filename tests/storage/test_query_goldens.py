"""Golden tests of planner_rescues, cost_per_correct and model_calls_by_phase.

Statuses are the sandbox's own (sandbox/types.py): failed, error:<Type>, timeout, syntax_error...

One small hand-built store; every expected number is computed here from the WorkItemResults
in plain Python, never read back from SQL.
"""

from __future__ import annotations

import math
from statistics import mean
from collections import defaultdict

import pytest
from storage_builders import Call, Check, make_item

from tasks.storage import QueryError, run_query, write_chunk

FAIL = ("base", False)
PASS = ("base", True)


def build_items():
    gen, plan = Call("generator", 100, 30, 0.002, 8.0), Call("planner", 400, 80, 0.02, 70.0, "plan")
    impl = Call("generator", 150, 40, 0.003, 8.0, "implement", latency_ms=35.0)
    return [
        # pat A: rescued by the planner
        make_item("A", "pat", 0, calls=(gen, plan, impl), planner_invoked=True,
                  checks=(Check("public", False, "failed"), Check("public", True),
                          Check("hidden:base", True, phase="score")), suites=(PASS,)),
        # pat B: trial and retry fail; first public failure is the trial's timeout
        make_item("B", "pat", 0, calls=(gen, plan, impl), planner_invoked=True, replans=1,
                  checks=(Check("public", False, "timeout"), Check("public", False, "failed"),
                          Check("hidden:base", False, "failed")),
                  suites=(FAIL,), status="failed"),
        # pat C: weak public tests (trial passed public, failed hidden)
        make_item("C", "pat", 0, calls=(Call("generator", 90, 20, 0.002, 8.0, cached=True,
                                             latency_ms=0.5),),
                  checks=(Check("public", True), Check("hidden:base", False, "error:ValueError")),
                  suites=(FAIL,), status="error:ValueError"),
        # pat D: passes straight away, seed 1
        make_item("D", "pat", 1, calls=(gen,), checks=(Check("public", True),), suites=(PASS,)),
        # pat E: the model call failed: no verification at all
        make_item("E", "pat", 0, calls=(Call("generator", 50, 0, 0.0, 8.0, error="timeout",
                                             latency_ms=900.0),),
                  suites=(FAIL,), status="error:model", error="model call failed"),
        # standard F, G, H
        make_item("F", "standard", 0, calls=(gen,), suites=(FAIL,), status="syntax_error",
                  checks=(Check("public", False, "syntax_error"),)),
        make_item("G", "standard", 0, calls=(gen,), checks=(Check("public", True),), suites=(PASS,)),
        make_item("H", "standard", 0, calls=(Call("generator", 100, 30, 0.002, None),),
                  checks=(Check("public", True),), suites=(FAIL,), status="error:ValueError"),
        # run r2: another rescued pat item
        make_item("A", "pat", 0, run_id="r2", calls=(gen, plan, impl), planner_invoked=True,
                  checks=(Check("public", False, "failed"), Check("public", True)),
                  suites=(PASS,)),
    ]


@pytest.fixture
def golden(store):
    items = build_items()
    write_chunk(store, [i for i in items if i.run_id == "r1"][:4])
    write_chunk(store, [i for i in items if i.run_id == "r1"][4:])
    write_chunk(store, [i for i in items if i.run_id == "r2"])
    crashed = write_chunk(store, [make_item("Z", "pat", 0, calls=(Call("planner", 9, 9, 9.0),),
                                            checks=(Check("public", False), Check("public", True)))])
    crashed.outcomes.unlink()  # never committed: must not appear anywhere
    return store, items


SANDBOX_STATUSES = {"passed", "failed", "timeout", "memory_exceeded", "output_limit",
                    "syntax_error", "crashed", "no_result", "no_tests"}


def test_goldens_use_only_statuses_the_sandbox_emits():
    import sandbox.types as types

    assert SANDBOX_STATUSES == {value for name, value in vars(types).items()
                                if name.isupper() and isinstance(value, str)}
    for item in build_items():
        statuses = [v.verdict.status for v in item.verifications] + [item.outcome.status]
        for status in statuses:
            assert status in SANDBOX_STATUSES or status.startswith("error:"), status


def config_key(item):
    return (item.run_id, item.policy.name, item.generator_model, item.planner_model)


def close(a, b):
    if b is None:
        return a is None
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# --------------------------------------------------------------------------- planner_rescues
def expected_rescues(items, policy="pat", run_id=None):
    rows = set()
    for item in items:
        if item.policy.name != policy or (run_id and item.run_id != run_id):
            continue
        public = [v.verdict for v in item.verifications if v.test_source == "public"]
        if not public:
            continue
        trial = public[0]
        if not trial.passed and item.outcome.passed:
            category = "rescued"
        elif trial.passed and not item.outcome.passed:
            category = "weak_public_tests"
        else:
            continue
        rows.add((item.run_id, item.task_id, item.seed, category, trial.status,
                  item.outcome.status, item.outcome.planner_invoked, item.outcome.replans,
                  item.outcome.model_calls))
    return rows


def rescue_rows(table):
    return {(r["run_id"], r["task_id"], r["seed"], r["category"], r["trial_public_status"],
             r["final_status"], r["planner_invoked"], r["replans"], r["model_calls"])
            for r in table.to_pylist()}


def test_planner_rescues_matches_python(golden):
    store, items = golden
    assert rescue_rows(run_query(store, "planner_rescues", {})) == expected_rescues(items)
    assert rescue_rows(run_query(store, "planner_rescues", {"run_id": "r2"})) == expected_rescues(
        items, run_id="r2")
    standard = run_query(store, "planner_rescues", {"policy": "standard"})
    assert rescue_rows(standard) == expected_rescues(items, policy="standard")
    assert {r[3] for r in expected_rescues(items)} == {"rescued", "weak_public_tests"}


# --------------------------------------------------------------------------- cost_per_correct
def test_cost_per_correct_matches_python(golden):
    store, items = golden
    groups = defaultdict(list)
    for item in items:
        groups[config_key(item)].append(item)
    rows = {(r["run_id"], r["policy"], r["generator_model"], r["planner_model"]): r
            for r in run_query(store, "cost_per_correct", {}).to_pylist()}
    assert rows.keys() == groups.keys()
    for key, group in groups.items():
        correct = sum(i.outcome.passed for i in group)
        total = sum(c.cost_usd for i in group for c in i.calls)
        billed = sum(c.cost_usd for i in group for c in i.calls if not c.cached)
        calls = [c for i in group for c in i.calls]
        weighted = (None if any(c.cost_weight is None for c in calls)
                    else sum(c.cost_weight * (c.input_tokens + c.output_tokens) for c in calls))
        row = rows[key]
        assert (row["work_items"], row["correct"]) == (len(group), correct)
        assert close(row["total_cost_usd"], total) and close(row["total_billed_cost_usd"], billed)
        assert close(row["cost_usd_per_correct"], total / correct if correct else None), key
        assert close(row["billed_cost_usd_per_correct"], billed / correct if correct else None)
        assert close(row["weighted_tokens_per_correct"],
                     weighted / correct if correct and weighted is not None else None), key
    assert rows[("r1", "standard", "sim/small", "sim/large")]["weighted_tokens_per_correct"] is None


# --------------------------------------------------------------------------- model_calls_by_phase
def linear_quantile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def test_model_calls_by_phase_matches_python(golden):
    store, items = golden
    groups = defaultdict(list)
    for item in items:
        for call in item.calls:
            groups[(item.run_id, item.policy.name, call.role, call.phase, call.model)].append(call)
    rows = {(r["run_id"], r["policy"], r["role"], r["phase"], r["model"]): r
            for r in run_query(store, "model_calls_by_phase", {}).to_pylist()}
    assert rows.keys() == groups.keys()
    for key, calls in groups.items():
        row = rows[key]
        uncached = [c.latency_ms for c in calls if not c.cached]
        assert row["calls"] == len(calls)
        assert close(row["cache_hit_rate"], sum(c.cached for c in calls) / len(calls))
        assert row["errors"] == sum(c.error is not None for c in calls)
        assert close(row["error_rate"], row["errors"] / len(calls))
        assert close(row["mean_latency_ms"], sum(uncached) / len(uncached) if uncached else None)
        assert close(row["p95_latency_ms"], linear_quantile(uncached, 0.95))
        assert row["input_tokens"] == sum(c.input_tokens for c in calls)
        assert row["output_tokens"] == sum(c.output_tokens for c in calls)
        assert close(row["mean_output_tokens"], row["output_tokens"] / len(calls))
        assert close(row["mean_input_tokens"], row["input_tokens"] / len(calls))
        assert close(row["mean_attempts"], mean(c.attempts for c in calls))
        assert close(row["cost_usd"], sum(c.cost_usd for c in calls))
    pat_generate = rows[("r1", "pat", "generator", "generate", "sim/small")]
    assert pat_generate["errors"] == 1 and pat_generate["cache_hit_rate"] == pytest.approx(1 / 5)
    only_standard = run_query(store, "model_calls_by_phase", {"policy": "standard", "run_id": "r1"})
    assert set(only_standard.column("policy").to_pylist()) == {"standard"}


def test_parameter_errors_are_one_line(golden):
    store, _ = golden
    with pytest.raises(QueryError, match="unknown parameter") as raised:
        run_query(store, "cost_per_correct", {"policy": "pat"})
    assert "\n" not in str(raised.value)
    with pytest.raises(QueryError, match="unknown query 'nope'"):
        run_query(store, "nope", {})
