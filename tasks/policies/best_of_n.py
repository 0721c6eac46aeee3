"""``best_of_n``: sample n programs, keep the one that passes the most tests.

Transitions: generate ×n (T=0.8) → write tests (when ``tests`` includes generated; re-asked up
to 3 times while nothing parses) → verify every candidate on each test source → submit the
candidate passing the most tests (the earliest among equals). With no test at all, the first
usable sample is submitted and flagged ``accepted_unverified``. Budget: exactly one code call
with ``n`` samples, at most 3 test-writing calls, one Verify per test source.
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
from tasks.policies.engine import Generated, NodeRef, Policy, Submit, Verified
from tasks.policies.params import Param
from tasks.policies.selection import most_tests_passed
from tasks.records import Problem


@dataclass(frozen=True)
class BestOfNState:
    problem: Problem
    phase: str = "start"  # start | generated | writing_tests | verifying
    programs: tuple[str, ...] = ()
    test_calls: int = 0
    written: WrittenTests | None = None
    suites: tuple[Suite, ...] = ()
    verified: tuple[Verified, ...] = ()


class BestOfN(Policy):
    name = "best_of_n"
    PARAMS = (
        Param("n", int, 5, "programs sampled", source="issue #11; PaT hparams: n=5 samples per trial",
              minimum=1, maximum=100),
        Param("temperature", float, 0.8, "sampling temperature of the programs",
              source="issue #11 (T=0.8, PaT's trial temperature)", minimum=0.0, maximum=2.0),
        Param("test_temperature", float, 0.2, "temperature of the test-writing call",
              source="PaT hparams (tests at T=0.2)", minimum=0.0, maximum=2.0),
        TESTS_PARAM,
    )  # fmt: skip

    def start(self, problem: Problem, seed: int) -> BestOfNState:
        return BestOfNState(problem=problem)

    def step(self, state: BestOfNState, observation):
        problem = state.problem
        if state.phase == "start":
            action = generate_action(problem, self.params["n"], self.params["temperature"])
            return replace(state, phase="generated"), action
        if state.phase == "generated":
            if observation.all_failed:
                return state, Submit(program=None, error=observation.first_error)
            programs = candidate_programs(problem, observation.texts)
            if not programs:
                return state, Submit(program=None, error="no sample had usable code")
            state = replace(state, programs=programs)
            return self._after_programs(state)
        if state.phase == "writing_tests":
            assert isinstance(observation, Generated)
            written = parse_written_tests(observation.texts, problem.entry_point)
            state = replace(state, written=written)
            if written.spec() is None and state.test_calls < TEST_RETRIES:
                return self._ask_tests(state)
            return self._start_verifying(state)
        if state.phase == "verifying":
            state = replace(state, verified=state.verified + (observation,))
            return self._next_verify_or_submit(state)
        raise ValueError(f"best_of_n: unknown phase {state.phase!r}")

    def _after_programs(self, state: BestOfNState):
        if writes_tests(self.params["tests"], state.problem):
            return self._ask_tests(state)
        return self._start_verifying(state)

    def _ask_tests(self, state: BestOfNState):
        action = write_tests_action(
            state.problem, self.params["test_temperature"], NodeRef(attempt=state.test_calls)
        )
        return replace(state, phase="writing_tests", test_calls=state.test_calls + 1), action

    def _start_verifying(self, state: BestOfNState):
        suites = suites_for(self.params["tests"], state.problem, state.written)
        state = replace(state, phase="verifying", suites=suites)
        if not suites:
            return state, Submit(program=state.programs[0], accepted_unverified=True)
        return self._next_verify_or_submit(state)

    def _next_verify_or_submit(self, state: BestOfNState):
        done = len(state.verified)
        if done < len(state.suites):
            suite = state.suites[done]
            return state, suite.verify(state.programs)
        tallies = [tally(state.suites, state.verified, i) for i in range(len(state.programs))]
        chosen = most_tests_passed([t.passed for t in tallies]).index
        return state, Submit(
            program=state.programs[chosen],
            selected_on=selected_on(state.suites),
            selected_tests_total=tallies[chosen].total,
            selected_tests_passed=tallies[chosen].passed,
        )
