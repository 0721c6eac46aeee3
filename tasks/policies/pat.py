"""``pat``: Planning after Trial, as the authors' code runs it (ml-postech/PaT, PaT/methods/PaT).

At every node — the root function, then each helper the planner introduces:
1. Trial: the generator samples ``n_samples`` implementations at ``trial_temperature``; a sample
   counts if a fenced block defines the target with the node's signature. Fewer than
   ``min_samples`` counted: ask again, ``trial_rounds`` requests at most.
2. Tests: written by the generator at ``tests_temperature`` (``tests_tries`` requests at most):
   at a function benchmark's root the docstring examples as asserts plus call-only tests; at a
   helper call-only tests; a stdin/stdout root uses the problem's sample input/output. With
   ``tests=public``/``both`` the dataset's public tests replace / join the root's generated ones.
   No tests at all: the first sample is accepted unverified (and flagged).
3. The sample passing the most tests is kept (ties: the later sample). All passed: done.
4. Otherwise, while the node is shallower than ``max_depth``: the planner rewrites the node's
   function to call new helper stubs; each helper becomes a child node (steps 1-5, recursively);
   the composed program runs on the node's tests. Up to ``max_attempts`` attempts: stop when all
   tests pass; when an attempt passes no more tests than the previous one and more than zero,
   restore the previous attempt (its parent code AND its children) and stop; after the last
   attempt keep it. No usable attempt: the trial's best sample stays.

The tree, every budget and every attempt live in ``PatState``; ``step`` is a pure function.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sandbox.types import StdioTests
from tasks import prompts
from tasks.policies.common import read_candidate, root_generate, root_signature
from tasks.policies.engine import (
    GENERATOR,
    PLANNER,
    TEST_SOURCES,
    Generate,
    Generated,
    Policy,
    Submit,
    Verified,
    Verify,
)
from tasks.policies.params import Param
from tasks.policies.pat_tree import (
    Attempt,
    PatNode,
    as_assert_tests,
    composed,
    kept_tree_ids,
    parse_generated_tests,
    tree_json,
)
from tasks.policies.program import function_source, prompt_imports, stub_of, with_imports
from tasks.records import Problem

_HP = "experiments/HumanEval-all-PaT/.hparams.json"
PARAMS = (
    Param("n_samples", int, 5, "samples per trial request", f"{_HP}:24 (conquer_samples)", 1, 50),
    Param("min_samples", int, 3, "samples that must parse, else ask again",
          f"{_HP}:25 (conquer_min_samples)", 1, 50),
    Param("trial_rounds", int, 3, "trial requests per node at most", f"{_HP}:26 (conquer_retries)", 1, 10),
    Param("trial_temperature", float, 0.8, "trial sampling temperature",
          f"{_HP}:23 (conquer_temperature)", 0.0, 2.0),
    Param("tests_temperature", float, 0.2, "test-writing temperature", f"{_HP}:20 (fc_temperature)", 0.0, 2.0),
    Param("tests_tries", int, 3, "test-writing requests per node at most", f"{_HP}:21 (fc_retries)", 1, 10),
    Param("decompose_temperature", float, 0.2, "planner temperature",
          f"{_HP}:14 (divide_temperature)", 0.0, 2.0),
    Param("decompose_tries", int, 3, "planner requests per attempt at most (unusable answers re-asked)",
          f"{_HP}:15 (divide_retries)", 1, 10),
    Param("max_attempts", int, 5, "decomposition attempts per node",
          "PaT/methods/PaT/dfs_2pass.py:143 (retry_2 = 5)", 1, 20),
    Param("max_depth", int, 3, "deepest helper node (the root is depth 0)", f"{_HP}:12 (dfs_max_depth)", 0, 6),
    Param("tests", str, "generated", "where the root's tests come from",
          "PaT/methods/PaT/gen.py _pass_2_test (generated; public/both are patflow's)", choices=TEST_SOURCES),
    Param("test_timeout_s", float, 5.0, "wall-time limit per generated test",
          "PaT/methods/PaT/runner.py PaT_runner (cfg_timeout=5.0)", 0.1, 60.0),
)  # fmt: skip


@dataclass(frozen=True)
class VerifyJob:
    programs: tuple[str, ...]
    node_id: str
    purpose: str  # "trial" | "attempt"
    spec_index: int = 0
    passed: tuple[int, ...] = ()
    total: tuple[int, ...] = ()


@dataclass(frozen=True)
class PatState:
    problem: Problem
    nodes: dict  # node id -> PatNode (replaced, never mutated)
    stack: tuple[str, ...] = ()  # the nodes being worked on; the last is active
    waiting_for: str = ""  # the kind of observation the last action will bring
    job: VerifyJob | None = None
    decompositions: int = 0
    reverts: int = 0
    error: str | None = None  # the first failed model call, kept for the record

    @property
    def active(self) -> PatNode:
        return self.nodes[self.stack[-1]]

    def put(self, node: PatNode, **changes) -> "PatState":
        return replace(self, nodes={**self.nodes, node.node_id: node}, **changes)


def _ancestor_targets(nodes: dict, node: PatNode) -> set[str]:
    """The functions above ``node``: a helper may not redefine one (a rejected attempt's
    helpers are no ancestors, so a later attempt may reuse their names)."""
    names = set()
    while node.parent_id is not None:
        node = nodes[node.parent_id]
        names.add(node.target)
    return names


class PlanningAfterTrial(Policy):
    name = "pat"
    uses_planner = True
    PARAMS = PARAMS

    # ------------------------------------------------------------------ entry points
    def start(self, problem: Problem, seed: int) -> PatState:
        root = PatNode("root", None, 0, problem.entry_point, problem.prompt,
                       signature=root_signature(problem))  # fmt: skip
        return PatState(problem, {"root": root}, ("root",))

    def step(self, state: PatState, observation):
        if observation is not None:
            state = self._fold(state, observation)
        return self._advance(state)

    # ------------------------------------------------------------------ observations
    def _fold(self, state: PatState, observation) -> PatState:
        if isinstance(observation, Generated) and observation.first_error and state.error is None:
            state = replace(state, error=observation.first_error)
        if state.waiting_for == "samples":
            return self._fold_samples(state, observation)
        if state.waiting_for == "tests":
            return self._fold_tests(state, observation)
        if state.waiting_for == "decomposition":
            return self._fold_decomposition(state, observation)
        if state.waiting_for == "verdicts":
            return self._fold_verdicts(state, observation)
        raise ValueError(f"pat got an observation while waiting for {state.waiting_for!r}")

    def _fold_samples(self, state: PatState, observation: Generated) -> PatState:
        node = state.active
        found = list(node.samples)
        for text, error in zip(observation.texts, observation.errors):
            candidate = read_candidate(state.problem, text, error, node.target, node.signature)
            if candidate.program is not None and candidate.fenced:
                found.append(candidate.program)
        node = replace(node, samples=tuple(found), rounds=node.rounds + 1)
        if len(found) >= self.params["min_samples"] or node.rounds >= self.params["trial_rounds"]:
            node = replace(node, phase="tests")
        return state.put(node)

    def _fold_tests(self, state: PatState, observation: Generated) -> PatState:
        node = state.active
        is_function_root = node.parent_id is None and bool(node.target)
        code = prompts.read_code(observation.texts[0]).code if not observation.errors[0] else ""
        lines = parse_generated_tests(code, node.target, asserts_allowed=is_function_root)
        node = replace(node, test_tries=node.test_tries + 1)
        if lines:
            tests = node.tests + (("generated", as_assert_tests(lines)),)
            return state.put(replace(node, tests=tests, phase="trial_verify"))
        if node.test_tries >= self.params["tests_tries"]:
            return state.put(replace(node, phase="trial_verify"))
        return state.put(node)

    def _fold_decomposition(self, state: PatState, observation: Generated) -> PatState:
        node = state.active
        node = replace(node, decompose_tries=node.decompose_tries + 1)
        parsed = None if observation.errors[0] else self._read_decomposition(state, node, observation.texts[0])
        if parsed is None:
            if node.decompose_tries < self.params["decompose_tries"]:
                return state.put(node)
            attempt = Attempt(node.attempt_number + 1, None)
            return self._after_attempt(state.put(replace(node, attempts=node.attempts + (attempt,))))
        parent_code, helpers = parsed
        number = node.attempt_number + 1
        children = []
        nodes = dict(state.nodes)
        for index, name in enumerate(helpers):
            child_id = f"{node.node_id}.{number}.{index}"
            stub = stub_of(parent_code, name) or f"def {name}(*args):\n    raise NotImplementedError()\n"
            context = function_source(parent_code, node.target) if node.target else parent_code
            nodes[child_id] = PatNode(child_id, node.node_id, node.depth + 1, name, stub,
                                      context=context or parent_code,
                                      signature=prompts.function_signature(stub, name))  # fmt: skip
            children.append(child_id)
        attempt = Attempt(number, parent_code, tuple(children))
        node = replace(node, attempts=node.attempts + (attempt,), pending_children=tuple(children),
                       phase="children")  # fmt: skip
        nodes[node.node_id] = node
        return replace(state, nodes=nodes, decompositions=state.decompositions + 1)

    def _read_decomposition(self, state: PatState, node: PatNode, text: str):
        """(parent code with every other function as a stub, helper names) or None."""
        target = node.target or "main"  # a stdin/stdout program is decomposed as main()
        extracted = prompts.read_code(text, target, node.signature)
        if not extracted.ok:
            return None
        taken = {state.problem.entry_point, target} | _ancestor_targets(state.nodes, node)
        helpers = [name for name in extracted.functions if name not in taken]
        code = extracted.code
        for name in helpers:  # the planner only decomposes: any body it wrote becomes a stub
            if name not in extracted.stubs:
                source, stub = function_source(code, name), stub_of(code, name)
                if source and stub:
                    code = code.replace(source.rstrip("\n"), stub.rstrip("\n"), 1)
        if not node.target and "\nmain()" not in "\n" + code:
            code += "\n\nmain()\n"
        return with_imports(prompt_imports(state.problem.prompt), code), helpers

    def _fold_verdicts(self, state: PatState, observation: Verified) -> PatState:
        job = state.job
        passed = tuple(p + v.tests_passed for p, v in zip(job.passed, observation.verdicts))
        total = tuple(t + v.tests_total for t, v in zip(job.total, observation.verdicts))
        job = replace(job, spec_index=job.spec_index + 1, passed=passed, total=total)
        node = state.nodes[job.node_id]
        if job.spec_index < len(node.tests):
            return replace(state, job=job)  # _advance sends the next test set
        state = replace(state, job=None)
        if job.purpose == "trial":
            return self._select_trial(state, node, job)
        return self._judge_attempt(state, node, job.passed[0], job.total[0])

    # ------------------------------------------------------------------ decisions
    def _select_trial(self, state: PatState, node: PatNode, job: VerifyJob) -> PatState:
        best = max(range(len(job.programs)), key=lambda i: (job.passed[i], i))  # ties: later
        passed_all = job.passed[best] == job.total[best]
        node = replace(node, trial_passed=passed_all, trial_best=job.programs[best],
                       trial_best_passed=job.passed[best], implementation=job.programs[best],
                       selected_tests_passed=job.passed[best], selected_tests_total=job.total[best])  # fmt: skip
        if passed_all or node.depth >= self.params["max_depth"]:
            return state.put(replace(node, done=True))
        return state.put(replace(node, phase="decompose", decompose_tries=0))

    def _judge_attempt(self, state: PatState, node: PatNode, passed: int, total: int) -> PatState:
        current = replace(node.attempts[-1], tests_passed=passed, tests_total=total)
        node = replace(node, attempts=node.attempts[:-1] + (current,))
        previous = next((a for a in reversed(node.attempts[:-1]) if a.tests_passed is not None), None)
        previous_passed = previous.tests_passed if previous is not None else -1
        if passed == total:
            return state.put(self._keep(state, node, current))
        if passed <= previous_passed and passed > 0:
            kept = replace(self._keep(state, node, previous), reverted=True)
            return state.put(kept, reverts=state.reverts + 1)
        return self._after_attempt(state.put(node))

    def _after_attempt(self, state: PatState) -> PatState:
        node = state.active
        if node.attempt_number < self.params["max_attempts"] and node.tests:
            return state.put(replace(node, phase="decompose", decompose_tries=0))
        last = next((a for a in reversed(node.attempts) if a.tests_passed is not None or
                     (not node.tests and a.parent_code is not None)), None)  # fmt: skip
        if last is None:  # no usable decomposition: the trial's best sample stays
            return state.put(replace(node, done=True, accepted_unverified=not node.tests and
                                     node.implementation is not None))  # fmt: skip
        return state.put(self._keep(state, node, last))

    def _keep(self, state: PatState, node: PatNode, attempt: Attempt) -> PatNode:
        program = composed(state.nodes, node, attempt)
        return replace(node, implementation=program, kept_attempt=attempt.number, done=True,
                       selected_tests_passed=attempt.tests_passed or 0,
                       selected_tests_total=attempt.tests_total,
                       accepted_unverified=not node.tests)  # fmt: skip

    # ------------------------------------------------------------------ next action
    def _advance(self, state: PatState):
        while True:
            if not state.stack:
                return state, self._submit(state)
            node = state.active
            if node.done:
                state = self._pop(state)
                continue
            if state.job is not None:
                return self._send_verify(state)
            if node.phase == "trial":
                return replace(state, waiting_for="samples"), self._trial_request(state, node)
            if node.phase == "tests":
                action = self._tests_request(state, node)
                if action is None:
                    state = state.put(replace(node, phase="trial_verify"), waiting_for="")
                    continue
                return replace(state, waiting_for="tests"), action
            if node.phase == "trial_verify":
                state = self._with_root_public_tests(state) if node.parent_id is None else state
                node = state.active
                if not node.tests:
                    state = self._accept_unverified(state, node)
                    continue
                if not node.samples:
                    state = state.put(replace(node, trial_passed=False, phase="decompose"))
                    if node.depth >= self.params["max_depth"]:
                        state = state.put(replace(state.active, done=True))
                    continue
                job = VerifyJob(node.samples, node.node_id, "trial", 0,
                                (0,) * len(node.samples), (0,) * len(node.samples))  # fmt: skip
                state = replace(state, job=job)
                continue
            if node.phase == "decompose":
                return replace(state, waiting_for="decomposition"), self._decompose_request(state, node)
            if node.phase == "children":
                if node.pending_children:
                    state = replace(state, stack=state.stack + (node.pending_children[0],))
                    continue
                program = composed(state.nodes, node, node.attempts[-1])
                if not node.tests:  # decomposing only because no sample counted, and no tests
                    state = state.put(self._keep(state, node, node.attempts[-1]))
                    continue
                state = replace(state, job=VerifyJob((program,), node.node_id, "attempt", 0, (0,), (0,)))
                continue
            raise ValueError(f"pat node {node.node_id} in unknown phase {node.phase!r}")

    def _pop(self, state: PatState) -> PatState:
        finished = state.active
        stack = state.stack[:-1]
        state = replace(state, stack=stack)
        if stack:
            parent = state.nodes[stack[-1]]
            pending = tuple(c for c in parent.pending_children if c != finished.node_id)
            state = state.put(replace(parent, pending_children=pending))
        return state

    def _accept_unverified(self, state: PatState, node: PatNode) -> PatState:
        if node.samples:
            return state.put(replace(node, implementation=node.samples[0], accepted_unverified=True,
                                     trial_passed=None, done=True))  # fmt: skip
        if node.depth < self.params["max_depth"] and node.attempt_number == 0:
            return state.put(replace(node, phase="decompose", decompose_tries=0))
        return state.put(replace(node, done=True))

    def _with_root_public_tests(self, state: PatState) -> PatState:
        """The dataset's public tests join the root's: always for a stdin/stdout root (its
        sample I/O are its tests), with tests=public|both for a function root. Once."""
        node = state.nodes["root"]
        public = state.problem.public_tests
        if public is None or any(source == "public" for source, _ in node.tests):
            return state
        if node.target and self.params["tests"] == "generated":
            return state
        return state.put(replace(node, tests=node.tests + (("public", public),)))

    def _send_verify(self, state: PatState):
        job = state.job
        node = state.nodes[job.node_id]
        source, spec = node.tests[job.spec_index]
        limits = None
        if source == "generated":
            limits = (self.params["test_timeout_s"],) * len(getattr(spec, "asserts", ()))
        elif source == "public" and node.parent_id is None:
            limits = state.problem.public_time_limits_s
        attempt = node.attempt_number if job.purpose == "attempt" else 0
        action = Verify(job.programs, spec, source, node.ref(attempt), time_limits_s=limits)
        return replace(state, waiting_for="verdicts"), action

    # ------------------------------------------------------------------ requests
    def _trial_request(self, state: PatState, node: PatNode) -> Generate:
        n, temperature = self.params["n_samples"], self.params["trial_temperature"]
        first = node.rounds * n
        if node.parent_id is None:
            return root_generate(state.problem, n, temperature, node.ref(), first)
        messages, sha256 = prompts.render("generate_helper", context=node.context.strip("\n"),
                                          code=node.spec_code.strip("\n"), target=node.target)  # fmt: skip
        return Generate(GENERATOR, "generate", messages, n, temperature, node.ref(), sha256,
                        target=node.target, first_sample_index=first,
                        context=(("parent", node.parent_id or ""),))  # fmt: skip

    def _tests_request(self, state: PatState, node: PatNode) -> Generate | None:
        """The generator's test-writing request, or None where no model writes the tests (a
        stdin/stdout root; a function root with tests=public)."""
        if node.parent_id is None and (not node.target or self.params["tests"] == "public"):
            return None
        name = "write_tests" if node.parent_id is None else "write_calls"
        messages, sha256 = prompts.render(name, code=node.spec_code.strip("\n"), target=node.target)
        return Generate(GENERATOR, "write_tests", messages, 1, self.params["tests_temperature"],
                        node.ref(), sha256, target=node.target, first_sample_index=node.test_tries,
                        context=(("template", name),))  # fmt: skip

    def _decompose_request(self, state: PatState, node: PatNode) -> Generate:
        code = node.spec_code.strip("\n")
        if node.parent_id is None and not node.target:
            code = f'def main():\n    """{code}"""\n'
        messages, sha256 = prompts.render("decompose", code=code, target=node.target or "main")
        index = node.attempt_number * self.params["decompose_tries"] + node.decompose_tries
        return Generate(PLANNER, "decompose", messages, 1, self.params["decompose_temperature"],
                        node.ref(node.attempt_number + 1), sha256, target=node.target,
                        first_sample_index=index)  # fmt: skip

    # ------------------------------------------------------------------ submission
    def _submit(self, state: PatState) -> Submit:
        root = state.nodes["root"]
        kept = kept_tree_ids(state.nodes)
        sources = {source for source, _ in root.tests}
        selected_on = "both" if len(sources) > 1 else next(iter(sources), "")
        program = root.implementation
        if program is not None:
            program = with_imports(prompt_imports(state.problem.prompt), program)
        return Submit(
            program=program,
            accepted_unverified=root.accepted_unverified,
            selected_on=selected_on if program is not None else "",
            selected_tests_total=root.selected_tests_total,
            selected_tests_passed=root.selected_tests_passed,
            root_trial_passed=root.trial_passed,
            tree_json=tree_json(state.nodes),
            nodes=len(kept),
            max_depth=max(state.nodes[i].depth for i in kept),
            decompositions=state.decompositions,
            reverts=state.reverts,
            error=state.error if program is None else None,
        )
