"""The one loop that runs any policy on one problem.

It asks the policy for the next phase, performs it (a model call through the injected model
client, or a verification through the injected verifier), appends an event for each, and stops
at ``done``. Then it scores the submitted program on the hidden suites — which the policy never
sees: they are used here, after the loop, and nowhere else.

A failed model call is an event with an error and ends the policy; the work item becomes an
``Outcome`` with status ``error:model``. Nothing here raises for what a model or a program does.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

from sandbox.types import TestSpec
from tasks import prompts
from tasks.policies import build_policy
from tasks.policies.state import (
    DONE,
    GENERATE,
    IMPLEMENT,
    MODEL_PHASES,
    PLAN,
    VERIFY,
    PolicyState,
)
from tasks.records import (
    Completion,
    ModelCallEvent,
    ModelConfig,
    ModelRequest,
    Outcome,
    PolicySpec,
    Problem,
    Verdict,
    VerificationEvent,
    WorkItemResult,
)

MAX_PHASES = 64  # a guard against a policy whose transitions never reach done
HARNESS_ERROR = "error:harness"  # verification itself raised: never the program's verdict


class ModelCaller(Protocol):
    def complete(self, config: ModelConfig, request: ModelRequest) -> Awaitable[Completion]: ...


Verifier = Callable[[str, "TestSpec | None", "tuple[float, ...] | None"], Verdict]
PriceOf = Callable[[ModelConfig, int, int], "tuple[float, float | None]"]
"""(config, input_tokens, output_tokens) -> (list-price cost_usd, cost_weight)."""


@dataclass(frozen=True)
class RoleModels:
    generator: ModelConfig
    planner: ModelConfig

    def for_role(self, role: str) -> ModelConfig:
        return self.generator if role == "generator" else self.planner


@dataclass(frozen=True)
class GenerationSettings:
    temperature: float = 0.2
    max_tokens: int = 1024


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def messages_for(phase: str, problem: Problem, state: PolicyState):
    if phase == GENERATE:
        return prompts.generate_messages(problem.prompt, problem.entry_point)
    if phase == PLAN:
        if state.program is None:  # planning before any trial (pbt)
            return prompts.plan_messages(problem.prompt, problem.entry_point, "", "no attempt yet")
        failure = ""
        if state.verdict is not None:
            failure = state.verdict.first_failure or state.verdict.status
        return prompts.plan_messages(problem.prompt, problem.entry_point, state.program, failure)
    if phase == IMPLEMENT:
        return prompts.implement_messages(problem.prompt, problem.entry_point, state.plan or "")
    raise ValueError(f"phase {phase!r} makes no model call")


async def run_work_item(
    *,
    run_id: str,
    problem: Problem,
    spec: PolicySpec,
    seed: int,
    models: RoleModels,
    client: ModelCaller,
    verifier: Verifier,
    price_of: PriceOf,
    settings: GenerationSettings = GenerationSettings(),
    verify_slots: asyncio.Semaphore | None = None,
) -> WorkItemResult:
    policy = build_policy(spec)
    started_at_s = time.time()
    state = PolicyState()
    calls: list[ModelCallEvent] = []
    verifications: list[VerificationEvent] = []

    def verify_or_harness_error(program: str, tests, time_limits_s) -> Verdict:
        try:
            return verifier(program, tests, time_limits_s)
        except Exception as error:  # the harness failed, not the program: a row, not a dead chunk
            return Verdict(
                passed=False,
                status=HARNESS_ERROR,
                tests_total=0,
                tests_passed=0,
                first_failure=f"{type(error).__name__}: {error}"[:500],
            )

    async def run_verifier(program: str, tests, time_limits_s) -> Verdict:
        if verify_slots is None:
            return await asyncio.to_thread(verify_or_harness_error, program, tests, time_limits_s)
        async with verify_slots:
            return await asyncio.to_thread(verify_or_harness_error, program, tests, time_limits_s)

    step = 0
    for step in range(MAX_PHASES):
        phase = policy.next_phase(state)
        if phase == DONE:
            break
        if step == MAX_PHASES - 1:  # never silently: the item says why it stopped
            state = state.after(state.phase, model_error=f"policy stopped after {MAX_PHASES} phases")
            break
        if phase in MODEL_PHASES:
            role = MODEL_PHASES[phase]
            config = models.for_role(role)
            request = ModelRequest(
                messages=messages_for(phase, problem, state),
                temperature=settings.temperature,
                max_tokens=settings.max_tokens,
                seed=seed,
                sample_index=0,
                purpose=phase,
            )
            completion = await client.complete(config, request)
            list_price_usd, cost_weight = price_of(
                config, completion.input_tokens, completion.output_tokens
            )
            calls.append(
                ModelCallEvent(
                    step=step,
                    phase=phase,
                    role=role,
                    model=config.model,
                    input_tokens=completion.input_tokens,
                    output_tokens=completion.output_tokens,
                    cost_usd=list_price_usd,
                    latency_ms=completion.latency_ms,
                    cached=completion.cached,
                    error=completion.error,
                    request_sha256=request.cache_key(config.cache_identity),
                    response_text=completion.text,
                    cost_weight=cost_weight,
                    attempts=completion.attempts,
                )
            )
            if completion.error:
                state = state.after(phase, model_error=completion.error)
            elif phase == PLAN:
                state = state.after(phase, plan=completion.text, plans_made=state.plans_made + 1)
            else:
                program = prompts.extract_code(completion.text)
                state = state.after(phase, program=program, verdict=None, trials=state.trials + 1)
        elif phase == VERIFY:
            program = state.program or ""
            verdict = await run_verifier(program, problem.public_tests, problem.public_time_limits_s)
            verifications.append(
                VerificationEvent(
                    step=step,
                    phase=phase,
                    test_source="public",
                    verdict=verdict,
                    program_sha256=sha256_text(program),
                )
            )
            improved = verdict.tests_passed > state.best_tests_passed
            state = state.after(
                phase,
                verdict=verdict,
                improved=improved,
                best_program=program if improved else state.best_program,
                best_tests_passed=max(verdict.tests_passed, state.best_tests_passed),
            )
        else:
            raise ValueError(f"policy {spec.name!r} asked for unknown phase {phase!r}")

    final_program = policy.final_program(state)
    suites_passed: list[tuple[str, bool]] = []
    status = "passed"
    if final_program is None:
        status = "error:model" if state.model_error else "no_program"
    else:
        for suite in problem.hidden_suites:
            verdict = await run_verifier(final_program, suite.tests, suite.time_limits_s)
            verifications.append(
                VerificationEvent(
                    step=step + len(suites_passed),
                    phase="score",
                    test_source=f"hidden:{suite.name}",
                    verdict=verdict,
                    program_sha256=sha256_text(final_program),
                )
            )
            suites_passed.append((suite.name, verdict.passed))
            if not verdict.passed and status == "passed":
                status = verdict.status
    passed = final_program is not None and bool(suites_passed) and all(p for _, p in suites_passed)
    outcome = Outcome(
        task_id=problem.task_id,
        policy=spec.label,
        seed=seed,
        passed=passed,
        status=status if passed or status != "passed" else "no_hidden_tests",
        suites_passed=tuple(suites_passed),
        final_program=final_program or "",
        planner_invoked=any(c.role == "planner" for c in calls),
        replans=max(state.plans_made - 1, 0),
        model_calls=len(calls),
        error=state.model_error,
    )
    return WorkItemResult(
        run_id=run_id,
        dataset=problem.dataset,
        task_id=problem.task_id,
        policy=spec,
        generator_model=models.generator.model,
        planner_model=models.planner.model,
        seed=seed,
        calls=tuple(calls),
        verifications=tuple(verifications),
        outcome=outcome,
        started_at_s=started_at_s,
        finished_at_s=time.time(),
    )
