"""Every policy transition, driven by a scripted model and a scripted verifier (no sandbox)."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest

from sandbox.types import AssertTests
from tasks.policies import UnknownPolicy, build_policy, parse_policy_spec
from tasks.policies.driver import RoleModels, run_work_item
from tasks.policies.state import (
    DONE,
    GENERATE,
    IMPLEMENT,
    PLAN,
    START,
    VERIFY,
    PolicyState,
)
from tasks.records import (
    Completion,
    DatasetInfo,
    HiddenSuite,
    ModelConfig,
    PolicySpec,
    Problem,
    Verdict,
)

PASS = Verdict(passed=True, status="passed", tests_total=2, tests_passed=2)
FAIL_ONE = Verdict(passed=False, status="failed", tests_total=2, tests_passed=1, first_failure="f(1) != 2")
FAIL_ALL = Verdict(passed=False, status="failed", tests_total=2, tests_passed=0, first_failure="f(0) != 1")

PROBLEM = Problem(
    task_id="T/0",
    prompt='def f(x):\n    """Return x + 1."""\n',
    entry_point="f",
    public_tests=AssertTests(asserts=("assert f(0) == 1",)),
    hidden_suites=(HiddenSuite("base", AssertTests(asserts=("assert f(5) == 6",))),),
    reference_solution="def f(x):\n    return x + 1\n",
    test_format="asserts",
    dataset=DatasetInfo("toy", "1", "0" * 64),
)
MODELS = RoleModels(ModelConfig("scripted/gen"), ModelConfig("scripted/plan"))


class ScriptedModel:
    """Answers from a script, keyed by role; fails loudly when a script runs out."""

    def __init__(self, **scripts: list[str]):
        self.scripts = {role: deque(answers) for role, answers in scripts.items()}
        self.requests: list[tuple[str, object]] = []

    async def complete(self, config, request):
        role = "generator" if config.model.endswith("gen") else "planner"
        self.requests.append((role, request))
        if not self.scripts.get(role):
            raise AssertionError(f"script for {role} ran out at request {request.purpose}")
        answer = self.scripts[role].popleft()
        if answer.startswith("ERROR"):
            return Completion(text="", input_tokens=0, output_tokens=0, latency_ms=1, error=answer)
        return Completion(text=answer, input_tokens=100, output_tokens=50, latency_ms=1.0)


class ScriptedVerifier:
    """Public verdicts from a script; hidden verdicts: passed iff the program says 'GOOD'."""

    def __init__(self, public: list[Verdict]):
        self.public = deque(public)
        self.hidden_programs: list[str] = []

    def __call__(self, program, tests, time_limits_s):
        if tests is PROBLEM.public_tests:
            if not self.public:
                raise AssertionError("public verdict script ran out")
            return self.public.popleft()
        self.hidden_programs.append(program)
        return PASS if "GOOD" in program else FAIL_ALL


def price_of(config, input_tokens, output_tokens):
    per_token = 1e-6 if config.model.endswith("gen") else 10e-6
    return (input_tokens + output_tokens) * per_token, 1.0


def run(spec: PolicySpec, model: ScriptedModel, verifier: ScriptedVerifier):
    return asyncio.run(
        run_work_item(
            run_id="r",
            problem=PROBLEM,
            spec=spec,
            seed=0,
            models=MODELS,
            client=model,
            verifier=verifier,
            price_of=price_of,
        )
    )


def code(label: str) -> str:
    return f"Here you go:\n```python\ndef f(x):\n    return x + 1  # {label}\n```\n"


# ---------------------------------------------------------------- pure transitions
@pytest.mark.parametrize(
    "name, state, expected",
    [
        ("standard", PolicyState(), GENERATE),
        ("standard", PolicyState(phase=GENERATE, program="p"), VERIFY),
        ("standard", PolicyState(phase=VERIFY, verdict=FAIL_ALL), DONE),
        ("standard", PolicyState(phase=GENERATE, model_error="boom"), DONE),
        ("pat", PolicyState(), GENERATE),
        ("pat", PolicyState(phase=GENERATE, program="p"), VERIFY),
        ("pat", PolicyState(phase=VERIFY, verdict=PASS), DONE),
        ("pat", PolicyState(phase=VERIFY, verdict=FAIL_ALL, improved=True), PLAN),
        ("pat", PolicyState(phase=PLAN, plan="1. x"), IMPLEMENT),
        ("pat", PolicyState(phase=IMPLEMENT, program="p"), VERIFY),
        ("pat", PolicyState(phase=VERIFY, verdict=FAIL_ALL, plans_made=3), DONE),
        # a plan that helped nothing (some tests pass, no more than before) stops re-planning
        ("pat", PolicyState(phase=VERIFY, verdict=FAIL_ONE, plans_made=1, improved=False), DONE),
        # ... but one that improved keeps the loop going while plans are left
        ("pat", PolicyState(phase=VERIFY, verdict=FAIL_ONE, plans_made=1, improved=True), PLAN),
        ("pat", PolicyState(phase=PLAN, model_error="429"), DONE),
        ("pbt", PolicyState(), PLAN),
        ("pbt", PolicyState(phase=PLAN, plan="1. x"), IMPLEMENT),
        ("pbt", PolicyState(phase=IMPLEMENT, program="p"), VERIFY),
        ("pbt", PolicyState(phase=VERIFY, verdict=FAIL_ALL), DONE),
    ],
)
def test_transition(name, state, expected):
    assert build_policy(PolicySpec(name)).next_phase(state) == expected


def test_pat_budget_comes_from_the_spec():
    policy = build_policy(PolicySpec("pat", (("max_plans", 1),)))
    state = PolicyState(phase=VERIFY, verdict=FAIL_ALL, plans_made=1, improved=True)
    assert policy.next_phase(state) == DONE


def test_unknown_policy_is_a_one_line_error():
    with pytest.raises(UnknownPolicy, match=r"unknown policy 'nope' \(known: pat, pbt, standard\)"):
        parse_policy_spec("nope")


def test_policy_spec_parameters_parse():
    assert parse_policy_spec("pat:max_plans=2").params == (("max_plans", 2),)
    with pytest.raises(UnknownPolicy, match="expected key=value"):
        parse_policy_spec("pat:max_plans")


# ---------------------------------------------------------------- the driver loop
def test_standard_makes_one_generator_call_and_scores_it():
    model = ScriptedModel(generator=[code("GOOD")])
    verifier = ScriptedVerifier([FAIL_ONE])
    result = run(PolicySpec("standard"), model, verifier)
    assert [c.phase for c in result.calls] == [GENERATE]
    assert [v.test_source for v in result.verifications] == ["public", "hidden:base"]
    assert result.outcome.passed and not result.outcome.planner_invoked
    assert result.calls[0].cost_usd == pytest.approx(150e-6)


def test_pat_passing_trial_never_calls_the_planner():
    model = ScriptedModel(generator=[code("GOOD")])
    result = run(PolicySpec("pat"), model, ScriptedVerifier([PASS]))
    assert [r for r, _ in model.requests] == ["generator"]
    assert result.outcome.passed and not result.outcome.planner_invoked


def test_pat_failed_trial_escalates_to_the_planner_and_implements_the_plan():
    model = ScriptedModel(generator=[code("bad"), code("GOOD")], planner=["1. helper g\n2. use g"])
    result = run(PolicySpec("pat"), model, ScriptedVerifier([FAIL_ALL, PASS]))
    assert [c.phase for c in result.calls] == [GENERATE, PLAN, IMPLEMENT]
    assert [c.role for c in result.calls] == ["generator", "planner", "generator"]
    implement_request = model.requests[2][1]
    assert "1. helper g" in implement_request.messages[1][1]
    plan_request = model.requests[1][1]
    assert "f(0) != 1" in plan_request.messages[1][1]  # the failure is shown to the planner
    assert result.outcome.passed and result.outcome.planner_invoked
    assert result.outcome.replans == 0


def test_pat_replans_until_budget_and_submits_the_best_attempt():
    model = ScriptedModel(
        generator=[code("bad0"), code("best"), code("bad2")], planner=["plan A", "plan B"]
    )
    verifier = ScriptedVerifier([FAIL_ALL, FAIL_ONE, FAIL_ALL])
    result = run(PolicySpec("pat", (("max_plans", 2),)), model, verifier)
    assert [c.phase for c in result.calls] == [GENERATE, PLAN, IMPLEMENT, PLAN, IMPLEMENT]
    assert "best" in verifier.hidden_programs[0]
    assert result.outcome.replans == 1 and not result.outcome.passed


def test_model_error_ends_the_policy_as_a_row_not_an_exception():
    model = ScriptedModel(generator=["ERROR: 503 after 6 attempts"])
    result = run(PolicySpec("pat"), model, ScriptedVerifier([]))
    assert result.outcome.status == "error:model"
    assert result.outcome.error.startswith("ERROR: 503")
    assert not result.outcome.passed and result.verifications == ()


def test_planner_error_after_a_trial_still_scores_the_trial():
    model = ScriptedModel(generator=[code("GOOD")], planner=["ERROR: timeout"])
    result = run(PolicySpec("pat"), model, ScriptedVerifier([FAIL_ALL]))
    assert result.outcome.passed  # hidden tests are stronger judges than the failed public one
    assert result.outcome.error == "ERROR: timeout"


def test_hidden_tests_never_reach_the_model():
    model = ScriptedModel(generator=[code("bad"), code("bad")], planner=["plan"])
    run(PolicySpec("pat", (("max_plans", 1),)), model, ScriptedVerifier([FAIL_ALL, FAIL_ALL]))
    sent = "".join(content for _, request in model.requests for _, content in request.messages)
    assert "f(5) == 6" not in sent and "f(0) == 1" not in sent


def test_a_verifier_that_raises_is_a_harness_error_row_not_a_dead_chunk():
    def broken_verifier(program, tests, time_limits_s):
        raise SystemError("AST constructor recursion depth mismatch")

    model = ScriptedModel(generator=[code("GOOD")])
    result = asyncio.run(
        run_work_item(
            run_id="r", problem=PROBLEM, spec=PolicySpec("standard"), seed=0, models=MODELS,
            client=model, verifier=broken_verifier, price_of=price_of,
        )
    )
    assert [v.verdict.status for v in result.verifications] == ["error:harness", "error:harness"]
    assert not result.outcome.passed and result.outcome.status == "error:harness"
    assert "SystemError" in result.verifications[0].verdict.first_failure


def test_policy_label_separates_behaviour_variants_but_not_model_overrides():
    assert parse_policy_spec("pat").label == "pat"
    assert parse_policy_spec("pat:max_plans=1").label == "pat:max_plans=1"
    assert parse_policy_spec("standard:generator=sim/large").label == "standard"


def test_a_policy_that_never_finishes_is_stopped_and_says_so():
    from tasks.policies import POLICIES
    from tasks.policies.state import Policy

    class Forever(Policy):
        name = "forever"

        def next_phase(self, state):
            return VERIFY

    POLICIES["forever"] = Forever
    try:
        model = ScriptedModel()
        verifier = ScriptedVerifier([FAIL_ALL] * 100)
        verifier.hidden_programs = []
        result = run(PolicySpec("forever"), model, verifier)
    finally:
        del POLICIES["forever"]
    assert result.outcome.error and "stopped after" in result.outcome.error
    assert not result.outcome.passed
