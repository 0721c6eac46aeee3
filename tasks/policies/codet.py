"""``codet``: CodeT (Chen et al. 2022, "CodeT: Code generation with generated tests").

Transitions: generate ×n (T=0.8; asked again while fewer than ``min_samples`` samples are
usable, at most ``code_calls`` calls, as FunCoder's ``funcoder_gen_once`` does) → write tests
(``test_samples`` samples; re-asked up to 3 times while nothing parses) → verify every candidate
on each test source, recording which tests it passes → select.

``scoring=dual`` (the default) is the paper's dual execution agreement: candidates passing the
same set of tests form a consensus set, scored (members × tests passed); the best set's first
member is submitted. ``scoring=pass_count`` is what the FunCoder repository's ``codet`` does
(``funcoder/methods/codet/gen.py``, ``runner_score_codet``): the candidate passing the most tests.
Ties are broken at random, seeded by (task, seed).
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
from tasks.policies.engine import NodeRef, Policy, Submit, Verified
from tasks.policies.params import Param
from tasks.policies.selection import dual_agreement, pass_count, tie_break_seed
from tasks.records import Problem


@dataclass(frozen=True)
class CodeTState:
    problem: Problem
    seed: int
    phase: str = "start"  # start | generated | writing_tests | verifying
    programs: tuple[str, ...] = ()
    code_calls: int = 0
    test_calls: int = 0
    written: WrittenTests | None = None
    suites: tuple[Suite, ...] = ()
    verified: tuple[Verified, ...] = ()


class CodeT(Policy):
    name = "codet"
    PARAMS = (
        Param("n", int, 11, "programs sampled per code call",
              source="funcoder tests/test_methods_codet.py:30 (samples=11); CodeT §4.1 samples 100",
              minimum=1, maximum=200),
        Param("min_samples", int, 5, "usable programs wanted before testing; fewer re-asks",
              source="funcoder tests/test_methods_codet.py:31 (min_samples=5)", minimum=1),
        Param("code_calls", int, 3, "code calls made at most while too few samples are usable",
              source="FunCoder's .hparams.json:25 (conquer_retries=3)", minimum=1, maximum=10),
        Param("temperature", float, 0.8, "sampling temperature of the programs",
              source="CodeT §4.1 (T=0.8, top-p 0.95)", minimum=0.0, maximum=2.0),
        Param("test_samples", int, 1, "test-writing samples (each a block of tests)",
              source="patflow (the paper samples 100 test sets; one block of several tests here)",
              minimum=1, maximum=100),
        Param("test_temperature", float, 0.8, "temperature of the test-writing samples",
              source="CodeT §4.1 (tests sampled like code)", minimum=0.0, maximum=2.0),
        Param("scoring", str, "dual", "dual: the paper's dual agreement; pass_count: FunCoder's codet",
              source="CodeT §2.2; funcoder methods/codet/gen.py runner_score_codet",
              choices=("dual", "pass_count")),
        TESTS_PARAM,
    )  # fmt: skip

    def start(self, problem: Problem, seed: int) -> CodeTState:
        return CodeTState(problem=problem, seed=seed)

    def step(self, state: CodeTState, observation):
        if state.phase == "start":
            return self._ask_code(state)
        if state.phase == "generated":
            if observation.all_failed and not state.programs:
                return state, Submit(program=None, error=observation.first_error)
            programs = state.programs + candidate_programs(state.problem, observation.texts)
            state = replace(state, programs=programs)
            if len(programs) < self.params["min_samples"] and state.code_calls < self.params["code_calls"]:
                return self._ask_code(state)
            if not programs:
                return state, Submit(program=None, error="no sample had usable code")
            if writes_tests(self.params["tests"], state.problem):
                return self._ask_tests(state)
            return self._start_verifying(state)
        if state.phase == "writing_tests":
            written = parse_written_tests(observation.texts, state.problem.entry_point)
            state = replace(state, written=written)
            if written.spec() is None and state.test_calls < TEST_RETRIES:
                return self._ask_tests(state)
            return self._start_verifying(state)
        if state.phase == "verifying":
            state = replace(state, verified=state.verified + (observation,))
            return self._next_verify_or_submit(state)
        raise ValueError(f"codet: unknown phase {state.phase!r}")

    def _ask_code(self, state: CodeTState):
        action = generate_action(
            state.problem, self.params["n"], self.params["temperature"], NodeRef(attempt=state.code_calls)
        )
        return replace(state, phase="generated", code_calls=state.code_calls + 1), action

    def _ask_tests(self, state: CodeTState):
        action = write_tests_action(
            state.problem, self.params["test_temperature"], NodeRef(attempt=state.test_calls),
            n=self.params["test_samples"],
        )
        return replace(state, phase="writing_tests", test_calls=state.test_calls + 1), action

    def _start_verifying(self, state: CodeTState):
        suites = suites_for(self.params["tests"], state.problem, state.written)
        state = replace(state, phase="verifying", suites=suites)
        if not suites:
            return state, Submit(program=state.programs[0], accepted_unverified=True)
        return self._next_verify_or_submit(state)

    def _next_verify_or_submit(self, state: CodeTState):
        done = len(state.verified)
        if done < len(state.suites):
            return state, state.suites[done].verify(state.programs)
        tallies = [tally(state.suites, state.verified, i) for i in range(len(state.programs))]
        passed_sets = [t.passed_indices for t in tallies]
        seed = tie_break_seed(state.problem.task_id, state.seed, "codet")
        scorer = dual_agreement if self.params["scoring"] == "dual" else pass_count
        chosen = scorer(passed_sets, seed).index
        return state, Submit(
            program=state.programs[chosen],
            selected_on=selected_on(state.suites),
            selected_tests_total=tallies[chosen].total,
            selected_tests_passed=tallies[chosen].passed,
        )
