"""The one loop that runs any policy on one problem: it performs actions, nothing else.

``run_work_item`` asks the policy (``tasks.policies.engine``) for an action, performs it and
feeds the observation back, until the policy submits:

- ``Generate``: ``n`` requests with sample indices ``first_sample_index + 0..n-1`` (distinct
  provider seeds, so distinct samples), concurrently; one ``ModelCallEvent`` per sample. No
  provider behind ``ModelClient`` is asked for ``n`` in one request: litellm's custom providers
  and several OpenAI-compatible servers ignore ``n``, and separate requests keep the
  per-sample cache key and cost row.
- ``Verify``: every program on the tests, concurrently within ``verify_slots`` (a verdict
  ``verdict_lookup`` already knows takes no slot); one ``VerificationEvent`` per program.
- ``Execute``: every program on call inputs without expected values, within the same slots (a
  run ``calls_lookup`` already knows takes none); one event per program.

Then ``score_hidden`` runs the submission on the hidden suites — which no policy ever sees:
they are used there, after the loop, and nowhere else. A failed model call is data (the policy
decides what it means); a verifier that raises is an ``error:harness`` verdict, never an
exception out of the work item.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

from sandbox.types import CallTests, TestSpec
from tasks.policies import build_policy
from tasks.policies.engine import (
    CandidateOutputs,
    Executed,
    Execute,
    Generate,
    Generated,
    Submit,
    Verified,
    Verify,
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

MAX_STEPS = 20_000  # a guard against a policy whose transitions never submit
HARNESS_ERROR = "error:harness"  # verification itself raised: never the program's verdict


class ModelCaller(Protocol):
    def complete(self, config: ModelConfig, request: ModelRequest) -> Awaitable[Completion]: ...


Verifier = Callable[[str, "TestSpec | None", "tuple[float, ...] | None"], Verdict]
VerdictLookup = Callable[[str, "TestSpec | None", "tuple[float, ...] | None"], "Verdict | None"]
"""(program, tests, time limits) -> the verdict already known for them (a verdict cache), or None.
Asked on the event loop before a program takes a sandbox slot: a known verdict costs no slot and
no thread hop."""
Executor = Callable[[str, CallTests], "tuple[tuple[str, ...], tuple[Any, ...]]"]
"""(program, call tests) -> (per-input status, per-input returned value)."""
CallsLookup = Callable[[str, CallTests, bool], "tuple[tuple[str, ...], tuple[Any, ...]] | None"]
"""(program, call tests, stop_at_timeout) -> the statuses and values an ``Executor`` already
returned for them (a verdict cache), or None; asked on the event loop as ``VerdictLookup`` is."""
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
    """Run-wide settings of the model calls; a policy's own sampling is in its parameters."""

    max_tokens: int = 1024
    temperature: float | None = None  # None: each policy's own temperatures (its parameters)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def default_executor(program: str, tests: CallTests, stop_at_timeout: bool = False):
    from tasks.verification import run_calls

    return run_calls(program, tests, stop_at_timeout=stop_at_timeout)


class _Performer:
    """Performs one work item's actions and keeps its event log."""

    def __init__(self, problem, seed, models, client, verifier, executor, price_of, settings, slots,
                 lookup: VerdictLookup | None = None, calls_lookup: CallsLookup | None = None):  # fmt: skip
        self.problem, self.seed, self.models, self.client = problem, seed, models, client
        self.verifier, self.executor, self.price_of = verifier, executor, price_of
        self.settings, self.slots, self.lookup, self.calls_lookup = settings, slots, lookup, calls_lookup
        self.calls: list[ModelCallEvent] = []
        self.verifications: list[VerificationEvent] = []
        self.verdict_memo: dict[tuple, Verdict] = {}
        self.step = 0

    async def _in_slot(self, function, *args):
        if self.slots is None:
            return await asyncio.to_thread(function, *args)
        async with self.slots:
            return await asyncio.to_thread(function, *args)

    def _verify_or_harness_error(self, program: str, tests, time_limits_s) -> Verdict:
        try:
            return self.verifier(program, tests, time_limits_s)
        except Exception as error:  # the harness failed, not the program: a row, not a dead chunk
            return Verdict(False, HARNESS_ERROR, 0, 0, f"{type(error).__name__}: {error}"[:500])

    def _known_verdict(self, program: str, tests, time_limits_s) -> Verdict | None:
        if self.lookup is None:
            return None
        try:
            return self.lookup(program, tests, time_limits_s)
        except Exception:  # an unreadable cache: the verifier decides
            return None

    async def verify_one(self, program: str, tests, time_limits_s) -> Verdict:
        known = self._known_verdict(program, tests, time_limits_s)
        if known is not None:
            return known
        return await self._in_slot(self._verify_or_harness_error, program, tests, time_limits_s)

    def _tree(self, node) -> dict:
        return {"node_id": node.node_id, "parent_node_id": node.parent_node_id,
                "depth": node.depth, "attempt": node.attempt}  # fmt: skip

    async def generate(self, action: Generate) -> Generated:
        config = self.models.for_role(action.role)
        temperature = action.temperature
        if self.settings.temperature is not None:
            temperature = self.settings.temperature
        metadata = (
            ("kind", action.kind), ("task_id", self.problem.task_id),
            ("dataset", self.problem.dataset.name), ("target", action.target),
            ("node_id", action.node.node_id), *action.context,
        )  # fmt: skip
        requests = [
            ModelRequest(
                messages=action.messages,
                temperature=temperature,
                max_tokens=min(action.max_tokens, self.settings.max_tokens),
                seed=self.seed,
                sample_index=action.first_sample_index + index,
                purpose=action.kind,
                metadata=metadata,
            )
            for index in range(action.n)
        ]
        completions = await asyncio.gather(*(self.client.complete(config, r) for r in requests))
        for request, completion in zip(requests, completions):
            cost, weight = self.price_of(config, completion.input_tokens, completion.output_tokens)
            self.calls.append(
                ModelCallEvent(
                    step=self.step, phase=action.kind, role=action.role, model=config.model,
                    input_tokens=completion.input_tokens, output_tokens=completion.output_tokens,
                    cost_usd=cost, latency_ms=completion.latency_ms, cached=completion.cached,
                    error=completion.error, request_sha256=request.cache_key(config.cache_identity),
                    response_text=completion.text, cost_weight=weight, attempts=completion.attempts,
                    sample_index=request.sample_index, prompt_sha256=action.prompt_sha256,
                    **self._tree(action.node),
                )  # fmt: skip
            )
        return Generated(tuple(c.text for c in completions), tuple(c.error for c in completions))

    async def verify(self, action: Verify) -> Verified:
        # A program verified again on the same tests within the item (a sample repeated, a
        # composed program re-checked) gets the verdict it got: one sandbox run per distinct
        # (program, tests, limits). The event is still recorded per program.
        key_of = {p: (sha256_text(p), repr(action.tests), action.time_limits_s) for p in action.programs}
        missing = list(dict.fromkeys(p for p in action.programs if key_of[p] not in self.verdict_memo))
        fresh = await asyncio.gather(
            *(self.verify_one(p, action.tests, action.time_limits_s) for p in missing)
        )
        for program, verdict in zip(missing, fresh):
            if verdict.status != HARNESS_ERROR:
                self.verdict_memo[key_of[program]] = verdict
        verdicts = [self.verdict_memo.get(key_of[p]) or fresh[missing.index(p)] for p in action.programs]
        indices = action.sample_indices or range(len(action.programs))
        for index, program, verdict in zip(indices, action.programs, verdicts):
            self.verifications.append(
                VerificationEvent(
                    step=self.step, phase="verify", test_source=action.test_source,
                    verdict=verdict, program_sha256=sha256_text(program), sample_index=index,
                    **self._tree(action.node),
                )  # fmt: skip
            )
        return Verified(tuple(verdicts))

    def _execute_or_harness_error(
        self, program: str, tests: CallTests, stop_at_timeout: bool
    ) -> tuple[CandidateOutputs, float]:
        started = time.perf_counter()
        try:
            statuses, values = self.executor(program, tests, stop_at_timeout=stop_at_timeout)
        except Exception:  # the harness failed: every input counts as failed, never as agreement
            statuses, values = tuple(HARNESS_ERROR for _ in tests.inputs), (None,) * len(tests.inputs)
        return CandidateOutputs(tuple(statuses), tuple(values)), (time.perf_counter() - started) * 1000

    def _known_outputs(self, program: str, tests: CallTests, stop_at_timeout: bool):
        if self.calls_lookup is None:
            return None
        started = time.perf_counter()
        try:
            known = self.calls_lookup(program, tests, stop_at_timeout)
        except Exception:  # an unreadable cache: the executor decides
            return None
        if known is None:
            return None
        return CandidateOutputs(tuple(known[0]), tuple(known[1])), (time.perf_counter() - started) * 1000

    async def execute_one(self, program: str, tests: CallTests, stop_at_timeout: bool):
        known = self._known_outputs(program, tests, stop_at_timeout)
        if known is not None:
            return known
        return await self._in_slot(self._execute_or_harness_error, program, tests, stop_at_timeout)

    async def execute(self, action: Execute) -> Executed:
        runs = await asyncio.gather(
            *(self.execute_one(p, action.tests, action.stop_at_timeout) for p in action.programs)
        )
        outputs = [output for output, _ in runs]
        indices = action.sample_indices or range(len(action.programs))
        for index, program, (output, duration_ms) in zip(indices, action.programs, runs):
            passed = sum(status == "passed" for status in output.statuses)
            failed = next((s for s in output.statuses if s != "passed"), "passed")
            verdict = Verdict(passed == len(output.statuses), failed, len(output.statuses), passed,
                              duration_ms=duration_ms, test_statuses=output.statuses)  # fmt: skip
            self.verifications.append(
                VerificationEvent(
                    step=self.step, phase="execute", test_source="generated", verdict=verdict,
                    program_sha256=sha256_text(program), sample_index=index,
                    **self._tree(action.node),
                )  # fmt: skip
            )
        return Executed(tuple(outputs))


async def score_hidden(performer: _Performer, program: str | None, model_error: str | None):
    """(suites_passed, status) of the submission on the hidden suites (``tasks.scoring``, the
    one scoring rule ``patflow evaluate`` and the self-check use too), recording each run."""
    from tasks.scoring import score_program_async

    if program is None:
        return [], "error:model" if model_error else "no_program"
    score = await score_program_async(program, performer.problem, performer.verify_one)
    for index, suite in enumerate(score.suites):
        performer.verifications.append(
            VerificationEvent(
                step=performer.step + index, phase="score", test_source=f"hidden:{suite.suite}",
                verdict=suite.verdict, program_sha256=sha256_text(program),
            )  # fmt: skip
        )
    return list(score.suites_passed), score.status


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
    executor: Executor | None = None,
    verdict_lookup: VerdictLookup | None = None,
    calls_lookup: CallsLookup | None = None,
) -> WorkItemResult:
    policy = build_policy(spec)
    started_at_s = time.time()
    performer = _Performer(problem, seed, models, client, verifier, executor or default_executor,
                           price_of, settings, verify_slots, verdict_lookup, calls_lookup)  # fmt: skip
    state = policy.start(problem, seed)
    observation = None
    submit = Submit(program=None, error=f"policy stopped after {MAX_STEPS} steps")
    for step in range(MAX_STEPS):
        performer.step = step
        state, action = policy.step(state, observation)
        if isinstance(action, Submit):
            submit = action
            break
        if isinstance(action, Generate):
            observation = await performer.generate(action)
        elif isinstance(action, Verify):
            observation = await performer.verify(action)
        elif isinstance(action, Execute):
            observation = await performer.execute(action)
        else:
            raise TypeError(f"policy {spec.name!r} returned {action!r}, not an action")
    suites_passed, status = await score_hidden(performer, submit.program, submit.error)
    passed = status == "passed"
    calls = performer.calls
    outcome = Outcome(
        task_id=problem.task_id,
        policy=spec.label,
        seed=seed,
        passed=passed,
        status=status,
        suites_passed=tuple(suites_passed),
        final_program=submit.program or "",
        planner_invoked=any(c.role == "planner" for c in calls),
        replans=max(submit.decompositions - 1, 0),
        model_calls=len(calls),
        error=submit.error,
        nodes=submit.nodes,
        max_depth=submit.max_depth,
        decompositions=submit.decompositions,
        reverts=submit.reverts,
        accepted_unverified=submit.accepted_unverified,
        selected_on=submit.selected_on,
        selected_tests_total=submit.selected_tests_total,
        selected_tests_passed=submit.selected_tests_passed,
        root_trial_passed=submit.root_trial_passed,
        tree_json=submit.tree_json,
        cost_usd=sum(c.cost_usd for c in calls),
        input_tokens=sum(c.input_tokens for c in calls),
        output_tokens=sum(c.output_tokens for c in calls),
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
        verifications=tuple(performer.verifications),
        outcome=outcome,
        started_at_s=started_at_s,
        finished_at_s=time.time(),
    )
