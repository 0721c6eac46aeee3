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


@dataclass(frozen=True)
class Check:
    test_source: str  # public | hidden:<suite>
    passed: bool
    status: str = ""
    phase: str = "verify"


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
            ),
            program_sha256="cd" * 32,
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
        final_program="def f():\n    return 1\n",
        planner_invoked=planner_invoked,
        replans=replans,
        model_calls=len(calls),
        error=error,
    )
    return WorkItemResult(
        run_id=run_id,
        dataset=DATASET,
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
