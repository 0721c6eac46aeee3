"""``self_debug``: generate, test, and repair from the failing test's feedback.

After Chen et al. 2023 ("Teaching large language models to self-debug", unit-test feedback:
the failing test and what the code did on it, with the model explaining its code before fixing
it) and Chen et al. 2025 ("Revisit self-debugging with self-generated tests", post-execution
self-debugging on tests the model wrote itself).

Transitions: generate (one sample) → write tests (when ``tests`` includes generated; re-asked up
to 3 times while nothing parses) → verify → all passed: submit; else, while fewer than
``max_rounds`` repairs were made: repair (one sample, the program and the first failing test
with its result in the prompt) → verify → … The submitted program is the one that passed the
most tests, the later one among equals (a repair that does no worse is kept). The tests are
written once and reused every round.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tasks.policies.candidates import (
    TESTS_PARAM,
    TEST_RETRIES,
    Suite,
    WrittenTests,
    candidate_programs,
    generate_action,
    parse_written_tests,
    selected_on,
    suites_for,
    tally,
    write_tests_action,
    writes_tests,
)
from tasks.policies.engine import GENERATOR, Generate, NodeRef, Policy, Submit, Verified
from tasks.policies.params import Param
from tasks.prompts import render
from tasks.records import Problem


@dataclass(frozen=True)
class SelfDebugState:
    problem: Problem
    phase: str = "start"  # start | generated | writing_tests | verifying | repaired
    program: str | None = None  # the program under test
    round: int = 0  # repairs made so far
    test_calls: int = 0
    written: WrittenTests | None = None
    suites: tuple[Suite, ...] = ()
    verified: tuple[Verified, ...] = ()  # of the current program, one per suite
    best_program: str | None = None
    best_passed: int = -1
    best_total: int = 0


class SelfDebug(Policy):
    name = "self_debug"
    PARAMS = (
        Param("max_rounds", int, 3, "repair rounds at most after the first program",
              source="Chen et al. 2023 §5 (up to 10 turns; successful debugging mostly ends within 3)",
              minimum=0, maximum=20),
        Param("temperature", float, 0.2, "temperature of the first program",
              source="patflow (standard's setting; the papers are silent for this pipeline)",
              minimum=0.0, maximum=2.0),
        Param("repair_temperature", float, 0.0, "temperature of each repair",
              source="Chen et al. 2023 §5 (greedy decoding for debugging)", minimum=0.0, maximum=2.0),
        Param("test_temperature", float, 0.2, "temperature of the test-writing call",
              source="PaT hparams (tests at T=0.2)", minimum=0.0, maximum=2.0),
        TESTS_PARAM,
    )  # fmt: skip

    def start(self, problem: Problem, seed: int) -> SelfDebugState:
        return SelfDebugState(problem=problem)

    def step(self, state: SelfDebugState, observation):
        problem = state.problem
        if state.phase == "start":
            action = generate_action(problem, 1, self.params["temperature"])
            return replace(state, phase="generated"), action
        if state.phase in ("generated", "repaired"):
            if observation.all_failed:
                return self._submit_best(state, error=observation.first_error)
            programs = candidate_programs(problem, observation.texts)
            # An answer without usable code still gets tested (and fails), so the next repair
            # sees why; the text itself is the program then.
            program = programs[0] if programs else (observation.texts[0] if observation.texts else "")
            state = replace(state, program=program, verified=())
            if state.phase == "generated" and writes_tests(self.params["tests"], state.problem):
                return self._ask_tests(state)
            if state.phase == "generated":
                return self._start_verifying(state)
            return self._next_verify(replace(state, phase="verifying"))
        if state.phase == "writing_tests":
            written = parse_written_tests(observation.texts, problem.entry_point)
            state = replace(state, written=written)
            if written.spec() is None and state.test_calls < TEST_RETRIES:
                return self._ask_tests(state)
            return self._start_verifying(state)
        if state.phase == "verifying":
            state = replace(state, verified=state.verified + (observation,))
            return self._next_verify(state)
        raise ValueError(f"self_debug: unknown phase {state.phase!r}")

    def _ask_tests(self, state: SelfDebugState):
        action = write_tests_action(
            state.problem, self.params["test_temperature"], NodeRef(attempt=state.test_calls)
        )
        return replace(state, phase="writing_tests", test_calls=state.test_calls + 1), action

    def _start_verifying(self, state: SelfDebugState):
        suites = suites_for(self.params["tests"], state.problem, state.written)
        state = replace(state, phase="verifying", suites=suites)
        if not suites:
            return state, Submit(program=state.program, accepted_unverified=True)
        return self._next_verify(state)

    def _next_verify(self, state: SelfDebugState):
        node = NodeRef(attempt=state.round)
        if len(state.verified) < len(state.suites):
            return state, state.suites[len(state.verified)].verify((state.program,), node)
        result = tally(state.suites, state.verified, 0)
        if result.passed >= state.best_passed:  # ties: the later (repaired) program
            state = replace(
                state, best_program=state.program, best_passed=result.passed, best_total=result.total
            )
        if result.all_passed or state.round >= self.params["max_rounds"]:
            return self._submit_best(state)
        messages, sha = render(
            "repair",
            code=state.problem.prompt.strip("\n"),
            program=(state.program or "").strip("\n"),
            feedback=result.first_failure or "the code did not pass the tests",
            target=state.problem.entry_point,
        )
        action = Generate(
            role=GENERATOR, kind="repair", messages=messages, n=1,
            temperature=self.params["repair_temperature"], node=NodeRef(attempt=state.round + 1),
            prompt_sha256=sha, target=state.problem.entry_point,
            context=(("feedback", result.first_failure),),
        )  # fmt: skip
        return replace(state, phase="repaired", round=state.round + 1), action

    def _submit_best(self, state: SelfDebugState, error: str | None = None):
        program = state.best_program if state.best_program is not None else state.program
        return state, Submit(
            program=program,
            selected_on=selected_on(state.suites),
            selected_tests_total=state.best_total,
            selected_tests_passed=max(state.best_passed, 0),
            error=error,
        )
