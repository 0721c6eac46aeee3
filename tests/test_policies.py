"""The engine and driver, and ``standard``, with a scripted model and verifier (no sandbox)."""

from __future__ import annotations

import asyncio

import pytest

from tasks.policies import POLICIES, UnknownPolicy, build_policy, parse_policy_spec
from sandbox.types import CallTests
from tasks.policies.engine import Execute, Generate, Generated, NodeRef, Policy, Submit, Verified, Verify
from tasks.policies.driver import run_work_item
from tasks.records import PolicySpec
from policy_scripts import (
    MODELS,
    PROBLEM,
    FunctionVerifier,
    ScriptedModel,
    ScriptRanOut,
    code,
    price_of,
    run,
    verdict,
)


# ---------------------------------------------------------------- standard, pure transitions
def test_standard_asks_for_one_generation_at_its_temperature_then_submits_it():
    policy = build_policy(PolicySpec("standard"))
    state = policy.start(PROBLEM, seed=0)
    state, action = policy.step(state, None)
    assert isinstance(action, Generate)
    assert (action.role, action.kind, action.n, action.temperature) == ("generator", "generate", 1, 0.8)
    assert PROBLEM.prompt.strip() in action.messages[-1][1] and len(action.prompt_sha256) == 64
    state, action = policy.step(state, Generated((code("return x + 1  # GOOD"),), (None,)))
    assert isinstance(action, Submit) and "GOOD" in action.program
    assert not action.accepted_unverified and action.selected_on == ""


def test_standard_submits_nothing_when_the_call_failed_and_says_why():
    policy = build_policy(PolicySpec("standard"))
    state, _ = policy.step(policy.start(PROBLEM, 0), None)
    _, action = policy.step(state, Generated(("",), ("rate_limit: 429",)))
    assert action == Submit(None, error="rate_limit: 429")


def test_standard_submits_unreadable_code_as_written():
    policy = build_policy(PolicySpec("standard"))
    state, _ = policy.step(policy.start(PROBLEM, 0), None)
    _, action = policy.step(state, Generated(("def g(:\n  oops",), (None,)))
    assert action.program == "def g(:\n  oops"


# ---------------------------------------------------------------- the driver
def test_standard_run_makes_one_call_no_verification_and_scores_the_submission():
    model = ScriptedModel({("generator", "generate"): [code("return x + 1  # GOOD")]})
    verifier = FunctionVerifier()
    result = run(PolicySpec("standard"), model, verifier)
    assert [c.phase for c in result.calls] == ["generate"]
    assert [v.test_source for v in result.verifications] == ["hidden:base"]
    assert result.outcome.passed and not result.outcome.planner_invoked
    assert result.calls[0].cost_usd == pytest.approx(150e-6)
    assert result.outcome.cost_usd == pytest.approx(150e-6)
    assert (result.outcome.input_tokens, result.outcome.output_tokens) == (100, 50)
    request = model.requests[0][1]
    assert dict(request.metadata)["kind"] == "generate"
    assert dict(request.metadata)["task_id"] == "T/0"


class _FanOut(Policy):
    """Asks for 3 samples, verifies all three, submits the one passing most (for the driver)."""

    name = "fan_out"

    def start(self, problem, seed):
        return "start"

    def step(self, state, observation):
        node = NodeRef("root.1", "root", 1, 2)
        if state == "start":
            return "sampled", Generate("generator", "generate", (("user", "go"),), 3, 0.8, node,
                                       "ab" * 32, first_sample_index=5)  # fmt: skip
        if state == "sampled":
            self.texts = observation.texts
            return "verified", Verify(tuple(observation.texts), PROBLEM.public_tests, "public", node)
        best = max(range(3), key=lambda i: observation.verdicts[i].tests_passed)
        return "done", Submit(self.texts[best], selected_on="public")


def test_driver_makes_n_samples_with_distinct_indices_and_records_the_tree_position():
    POLICIES["fan_out"] = _FanOut
    try:
        answers = ["a GOOD", "b", "c"]
        model = ScriptedModel({("generator", "generate"): list(answers)})
        passed_by_text = {"a GOOD": 2, "b": 1, "c": 0}
        verifier = FunctionVerifier(lambda program, tests: verdict(2, passed_by_text[program]))
        result = run(PolicySpec("fan_out"), model, verifier)
    finally:
        del POLICIES["fan_out"]
    assert [c.sample_index for c in result.calls] == [5, 6, 7]
    assert [r.sample_index for _, r in model.requests] == [5, 6, 7]
    assert {(c.node_id, c.parent_node_id, c.depth, c.attempt) for c in result.calls} == {
        ("root.1", "root", 1, 2)
    }
    assert {c.prompt_sha256 for c in result.calls} == {"ab" * 32}
    public = [v for v in result.verifications if v.test_source == "public"]
    assert [v.sample_index for v in public] == [0, 1, 2]
    assert [v.verdict.tests_passed for v in public] == [2, 1, 0]
    assert result.outcome.passed and result.outcome.selected_on == "public"
    assert result.outcome.cost_usd == pytest.approx(sum(c.cost_usd for c in result.calls))


def test_a_verifier_that_raises_is_a_harness_error_row_not_a_dead_chunk():
    def broken_verifier(program, tests, time_limits_s):
        raise SystemError("AST constructor recursion depth mismatch")

    model = ScriptedModel({("generator", "generate"): [code("return x + 1  # GOOD")]})
    result = asyncio.run(
        run_work_item(
            run_id="r", problem=PROBLEM, spec=PolicySpec("standard"), seed=0, models=MODELS,
            client=model, verifier=broken_verifier, price_of=price_of,
        )  # fmt: skip
    )
    assert [v.verdict.status for v in result.verifications] == ["error:harness"]
    assert not result.outcome.passed and result.outcome.status == "error:harness"
    assert "SystemError" in result.verifications[0].verdict.first_failure


def test_a_known_verdict_is_served_without_a_sandbox_slot_or_the_verifier():
    model = ScriptedModel({("generator", "generate"): [code("return x + 1  # GOOD")]})
    verifier = FunctionVerifier(judge=lambda program, tests: verdict(2, 2))
    asked = []

    def lookup(program, tests, time_limits_s):
        asked.append(program)
        return verdict(2, 2) if "GOOD" in program else None

    async def item():
        no_slots = asyncio.Semaphore(0)  # a verification that took a slot would wait forever
        return await asyncio.wait_for(run_work_item(
            run_id="r", problem=PROBLEM, spec=PolicySpec("standard"), seed=0, models=MODELS,
            client=model, verifier=verifier, price_of=price_of, verify_slots=no_slots,
            verdict_lookup=lookup,
        ), timeout=10)  # fmt: skip

    result = asyncio.run(item())
    assert result.outcome.passed and result.outcome.suites_passed == (("base", True),)
    assert verifier.calls == [] and verifier.hidden_programs == []  # the verifier never ran
    assert len(asked) == len(PROBLEM.hidden_suites)  # standard verifies on the hidden suite only
    assert [v.test_source for v in result.verifications] == ["hidden:base"]  # still recorded


def test_a_lookup_that_raises_or_misses_falls_back_to_the_verifier():
    model = ScriptedModel({("generator", "generate"): [code("return x + 1  # GOOD")]})
    verifier = FunctionVerifier(judge=lambda program, tests: verdict(2, 2))

    def broken_lookup(program, tests, time_limits_s):
        raise OSError("database is locked")

    result = asyncio.run(run_work_item(
        run_id="r", problem=PROBLEM, spec=PolicySpec("standard"), seed=0, models=MODELS,
        client=model, verifier=verifier, price_of=price_of, verdict_lookup=broken_lookup,
    ))  # fmt: skip
    assert result.outcome.passed and len(verifier.hidden_programs) == 1


class _ExecuteTwice(Policy):
    """Runs "p" and "q" on two call inputs, then submits the good program."""

    name = "execute_twice"

    def start(self, problem, seed):
        return 0

    def step(self, state, observation):
        if state == 0:
            return 1, Execute(("p", "q"), CallTests("f", ((1,), (2,))), stop_at_timeout=True)
        return state, Submit(code("return x + 1  # GOOD"))


def _run_execute_twice(executor, calls_lookup, verify_slots=None):
    verifier = FunctionVerifier(judge=lambda program, tests: verdict(2, 2))
    POLICIES["execute_twice"] = _ExecuteTwice
    try:
        return asyncio.run(asyncio.wait_for(run_work_item(
            run_id="r", problem=PROBLEM, spec=PolicySpec("execute_twice"), seed=0, models=MODELS,
            client=ScriptedModel({}), verifier=verifier, price_of=price_of, verify_slots=verify_slots,
            executor=executor, verdict_lookup=lambda *args: verdict(2, 2), calls_lookup=calls_lookup,
        ), timeout=10))  # fmt: skip
    finally:
        del POLICIES["execute_twice"]


def test_known_call_runs_are_served_without_a_sandbox_slot_or_the_executor():
    executed, asked = [], []

    def executor(program, tests, stop_at_timeout=False):
        executed.append(program)
        return ("passed", "passed"), (2, 3)

    def lookup(program, tests, stop_at_timeout):
        asked.append((program, tests.inputs, stop_at_timeout))
        return ("passed", "failed"), ({"p": 2, "q": 0}[program], None)

    result = _run_execute_twice(executor, lookup, verify_slots=asyncio.Semaphore(0))  # a slot: waits forever
    assert executed == [] and asked == [("p", ((1,), (2,)), True), ("q", ((1,), (2,)), True)]
    runs = [v for v in result.verifications if v.phase == "execute"]
    assert [v.verdict.test_statuses for v in runs] == [("passed", "failed")] * 2  # still recorded
    assert [v.sample_index for v in runs] == [0, 1] and result.outcome.passed


def test_a_calls_lookup_that_raises_or_misses_falls_back_to_the_executor():
    executed = []

    def executor(program, tests, stop_at_timeout=False):
        executed.append(program)
        return ("passed", "passed"), (2, 3)

    def lookup(program, tests, stop_at_timeout):
        if program == "p":
            raise OSError("database is locked")
        return None

    result = _run_execute_twice(executor, lookup)
    assert executed == ["p", "q"]
    assert [v.verdict.tests_passed for v in result.verifications if v.phase == "execute"] == [2, 2]


def test_model_error_ends_the_item_as_a_row_not_an_exception():
    model = ScriptedModel({("generator", "generate"): ["ERROR: 503 after 6 attempts"]})
    result = run(PolicySpec("standard"), model, FunctionVerifier())
    assert result.outcome.status == "error:model"
    assert result.outcome.error.startswith("ERROR: 503")
    assert not result.outcome.passed and result.verifications == ()


def test_a_program_verified_again_on_the_same_tests_reuses_its_verdict():
    class Twice(Policy):
        name = "twice"

        def start(self, problem, seed):
            return 0

        def step(self, state, observation):
            if state < 2:
                return state + 1, Verify(("p", "q", "p"), PROBLEM.public_tests, "public")
            return state, Submit("GOOD")

    POLICIES["twice"] = Twice
    try:
        verifier = FunctionVerifier(lambda program, tests: verdict(1, program == "p"))
        result = run(PolicySpec("twice"), ScriptedModel({}), verifier)
    finally:
        del POLICIES["twice"]
    assert [program for program, _ in verifier.calls] == ["p", "q"]  # one sandbox run each
    public = [v for v in result.verifications if v.test_source == "public"]
    assert [v.verdict.tests_passed for v in public] == [1, 0, 1] * 2  # one event per program


def test_the_scripted_model_fails_loudly_when_its_script_runs_out():
    with pytest.raises(ScriptRanOut):
        run(PolicySpec("standard"), ScriptedModel({}), FunctionVerifier())


def test_a_policy_that_never_submits_is_stopped_and_says_so(monkeypatch):
    from tasks.policies import driver

    class Forever(Policy):
        name = "forever"

        def start(self, problem, seed):
            return 0

        def step(self, state, observation):
            return state + 1, Verify((f"p{state}",), PROBLEM.public_tests, "public")

    monkeypatch.setattr(driver, "MAX_STEPS", 5)
    POLICIES["forever"] = Forever
    try:
        verifier = FunctionVerifier(lambda program, tests: verdict(1, 0))
        result = run(PolicySpec("forever"), ScriptedModel({}), verifier)
    finally:
        del POLICIES["forever"]
    assert len(verifier.calls) == 5
    assert result.outcome.error == "policy stopped after 5 steps"
    assert not result.outcome.passed and result.outcome.status == "error:model"


# ---------------------------------------------------------------- registry and specs
def test_unknown_policy_is_a_one_line_error():
    known = ", ".join(sorted(POLICIES))
    with pytest.raises(UnknownPolicy, match=rf"unknown policy 'nope' \(known: {known}\)"):
        parse_policy_spec("nope")


def test_policy_spec_parameters_parse():
    assert parse_policy_spec("standard:temperature=0.2").params == (("temperature", 0.2),)
    with pytest.raises(UnknownPolicy, match="expected key=value"):
        parse_policy_spec("standard:temperature")


def test_policy_label_separates_behaviour_variants_but_not_model_overrides():
    assert parse_policy_spec("standard").label == "standard"
    assert parse_policy_spec("standard:temperature=0.2").label == "standard:temperature=0.2"
    assert parse_policy_spec("standard:generator=sim/large").label == "standard"


def test_every_registered_policy_declares_sourced_parameters():
    for name, policy_class in POLICIES.items():
        for param in policy_class.PARAMS:
            assert param.source and param.help, (name, param.name)
            assert param.coerce(param.default, name) == param.default
