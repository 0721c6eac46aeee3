"""Builders of hand-made ``WorkItemResult``s for the storage and SQL tests (no Prefect, no models).

A plain module (not conftest) so test files import it by a name no other conftest shares."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tasks.records import (
    DatasetInfo,
    ModelCallEvent,
    Outcome,
    PolicySpec,
    Verdict,
    VerificationEvent,
    WorkItemResult,
)

DATASET = DatasetInfo(name="toy", version="0.1", content_sha256="ab" * 32)


@dataclass(frozen=True)
class Call:
    role: str
    input_tokens: int
    output_tokens: int
    cost_usd: float = 0.0
    cost_weight: float | None = 1.0
    phase: str = "generate"
    cached: bool = False
    error: str | None = None
    latency_ms: float = 10.0
    model: str | None = None  # default: the role's model
    node_id: str = "root"
    parent_node_id: str | None = None
    depth: int = 0
    attempt: int = 0
    sample_index: int = 0


@dataclass(frozen=True)
class Check:
    test_source: str  # public | hidden:<suite>
    passed: bool
    status: str = ""
    phase: str = "verify"
    node_id: str = "root"
    depth: int = 0
    attempt: int = 0
    sample_index: int = 0
    first_failure: str = ""


def make_item(
    task_id: str,
    policy: str,
    seed: int = 0,
    *,
    run_id: str = "r1",
    generator: str = "sim/small",
    planner: str = "sim/large",
    calls: tuple[Call, ...] = (),
    checks: tuple[Check, ...] = (),
    suites: tuple[tuple[str, bool], ...] = (("base", True),),
    status: str | None = None,
    planner_invoked: bool = False,
    replans: int = 0,
    error: str | None = None,
    started_at_s: float = 1_700_000_000.0,
    policy_params: tuple = (),
    dataset: DatasetInfo = DATASET,
    final_program: str = "def f():\n    return 1\n",
    root_trial_passed: bool | None = None,
    tree_json: str = "",
    accepted_unverified: bool = False,
    nodes: int = 1,
    max_depth: int = 0,
    decompositions: int = 0,
    reverts: int = 0,
    selected_on: str = "",
) -> WorkItemResult:
    passed = all(ok for _, ok in suites) and bool(suites)
    call_events = tuple(
        ModelCallEvent(
            step=index,
            phase=call.phase,
            role=call.role,
            model=call.model or (generator if call.role == "generator" else planner),
            input_tokens=call.input_tokens,
            output_tokens=call.output_tokens,
            cost_usd=call.cost_usd,
            latency_ms=call.latency_ms,
            cached=call.cached,
            error=call.error,
            request_sha256=hashlib.sha256(f"{task_id}{policy}{seed}{index}".encode()).hexdigest(),
            response_text=f"response {index}",
            cost_weight=call.cost_weight,
            node_id=call.node_id,
            parent_node_id=call.parent_node_id,
            depth=call.depth,
            attempt=call.attempt,
            sample_index=call.sample_index,
            prompt_sha256="ef" * 32,
        )
        for index, call in enumerate(calls)
    )
    verification_events = tuple(
        VerificationEvent(
            step=index,
            phase=check.phase,
            test_source=check.test_source,
            verdict=Verdict(
                passed=check.passed,
                status=check.status or ("passed" if check.passed else "failed"),
                tests_total=3,
                tests_passed=3 if check.passed else 1,
                first_failure=check.first_failure,
            ),
            program_sha256="cd" * 32,
            node_id=check.node_id,
            depth=check.depth,
            attempt=check.attempt,
            sample_index=check.sample_index,
        )
        for index, check in enumerate(checks)
    )
    outcome = Outcome(
        task_id=task_id,
        policy=policy,
        seed=seed,
        passed=passed,
        status=status or ("passed" if passed else "failed"),
        suites_passed=suites,
        final_program=final_program,
        planner_invoked=planner_invoked,
        replans=replans,
        model_calls=len(calls),
        error=error,
        nodes=nodes,
        max_depth=max_depth,
        decompositions=decompositions,
        reverts=reverts,
        accepted_unverified=accepted_unverified,
        selected_on=selected_on,
        root_trial_passed=root_trial_passed,
        tree_json=tree_json,
        cost_usd=sum(call.cost_usd for call in calls),
        input_tokens=sum(call.input_tokens for call in calls),
        output_tokens=sum(call.output_tokens for call in calls),
    )
    return WorkItemResult(
        run_id=run_id,
        dataset=dataset,
        task_id=task_id,
        policy=PolicySpec(policy, policy_params),
        generator_model=generator,
        planner_model=planner,
        seed=seed,
        calls=call_events,
        verifications=verification_events,
        outcome=outcome,
        started_at_s=started_at_s,
        finished_at_s=started_at_s + 1.5,
    )
