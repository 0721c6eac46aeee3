"""``funcoder``: FunCoder (Chen et al. 2024, "Divide-and-conquer meets consensus"), the
Planning-before-Trial baseline PaT is compared with.

As the authors' ``funcoder/methods/funcoder/dfs_2pass.py`` and ``gen.py`` do it, per node (the
root function, then every helper it introduces), depth first:

1. divide — the planner (T=0.2, one sample, re-asked up to 3 times while the answer does not
   parse) writes the function, calling new helper functions declared as stubs. Each helper not
   seen before becomes a child node. Nodes live at depths 0..``max_depth``-1 (the reference's
   ``depth >= opt_max_depth`` makes no node); a node at the last depth is not divided.
2. the children, recursively.
3. conquer — the generator samples ``n`` implementations (T=0.8), shown the children's accepted
   code; re-asked (up to 3 calls) while fewer than ``min_samples`` are usable. The divide output
   is a candidate too (``opt_include_architect``).
4. tests — call-only inputs written by the generator (T=0.2; re-asked up to 3 times while none
   parse). At the root, unit tests too: with ``tests=generated`` the same answer's asserts
   (the docstring examples, one call: the reference spends a second call on them), with
   ``tests=public`` the dataset's examples, with ``both`` both.
5. consensus — every candidate, composed with the children's code, runs on the inputs; the
   candidate agreeing most with the others wins (``selection.functional_consensus``: +agreeing
   outputs−1 per input, −100 per crash, −10,000 on any failed unit test; seeded random tie-break).
   Evaluated lazily, with the same winner (``consensus_decision``): a candidate's inputs stop at
   its first timeout and its unit tests run only if it can still win; the inputs it skipped run
   only when they could change the winner.

patflow decisions where the reference is silent or defective (docs/policies.md): a node whose
divide never parses is conquered as a leaf (the reference drops it, leaving its caller calling
an undefined name); with a single candidate no tests are written (consensus cannot choose); a
node whose conquer yields nothing usable keeps its divide output, else its stub.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

from sandbox.types import PASSED, TIMEOUT

from tasks.policies.candidates import (
    TEST_RETRIES,
    WrittenTests,
    call_tests,
    parse_written_tests,
    selected_on,
    suites_for,
    tally,
)
from tasks.policies.engine import (
    GENERATOR,
    PLANNER,
    CandidateOutputs,
    Execute,
    Executed,
    Generate,
    Generated,
    NodeRef,
    Policy,
    Submit,
    Verified,
    Verify,
)
from tasks.policies.params import Param
from tasks.policies.program import (
    compose,
    defined_functions,
    function_source,
    prompt_imports,
    stub_of,
    with_imports,
    without_functions,
)
from tasks.policies.consensus_decision import UNKNOWN, Cell, ResumeInputs, VerifyUnits, decide
from tasks.policies.selection import output_key, tie_break_seed
from tasks.prompts import function_signature, read_code, render
from tasks.records import Problem, Verdict

HPARAMS = "funcoder experiments/HumanEval-all-FunCoder-g4om240718/.hparams.json"
DIVIDE_RETRIES = 3  # HPARAMS:14 divide_retries


def _without_stubs(code: str, stubs) -> str:
    """A candidate's code without the helper stubs it declares: every helper is implemented by
    its own node (or exists already), and a stub composed after an implementation would
    replace it."""
    return without_functions(code, set(stubs)) if stubs else code


def _with_prompt_code(problem: Problem, program: str) -> str:
    """``program`` after the prompt's own code: its imports and the functions it already
    implements (HumanEval/10's ``is_palindrome``), which a candidate may use without repeating.
    A function the program defines again replaces the prompt's."""
    given = set(defined_functions(problem.prompt)) - {problem.entry_point}
    if not given:
        return with_imports(prompt_imports(problem.prompt), program)
    preamble = without_functions(problem.prompt, {problem.entry_point})
    return compose(preamble, [program])


def _cells(outputs: CandidateOutputs) -> tuple[Cell, ...]:
    """One candidate's consensus cells from a run that stops at its first timeout: the inputs
    after it are ``UNKNOWN`` (not run), the timed-out one a crash (``None``)."""
    statuses = outputs.statuses
    stop = statuses.index(TIMEOUT) if TIMEOUT in statuses else len(statuses)
    known = tuple(output_key(v) if s == PASSED else None for s, v in zip(statuses[: stop + 1], outputs.values))
    return known + (UNKNOWN,) * (len(statuses) - len(known))


def _absorb_resumed(node: FcNode, observation: Executed) -> FcNode:
    """A stopped candidate's remaining inputs, run (stopping at a timeout again)."""
    candidate, [outputs] = node.resume_queue[0], observation.outputs
    row = node.rows[candidate]
    resumed = row[: row.index(UNKNOWN)] + _cells(outputs)
    rows = node.rows[:candidate] + (resumed,) + node.rows[candidate + 1 :]
    queue = node.resume_queue[1:]
    return replace(node, rows=rows, resume_queue=queue, stage="resume" if queue else "decide")


def _unit_tally(suites, verdicts: tuple[Verdict, ...]):
    return tally(suites, [Verified((verdict,)) for verdict in verdicts], 0)


@dataclass(frozen=True)
class FcNode:
    node_id: str
    name: str  # the function this node writes
    parent_id: str | None
    depth: int
    shown: str  # the function as the divide request shows it (stub, or as a parent wrote it)
    stage: str = "divide"  # divide | children | conquer | tests | execute | decide | verify | resume | done
    children: tuple[str, ...] = ()
    next_child: int = 0
    divide_calls: int = 0
    divided: str | None = None  # the divide output's version of the function (with its extras)
    conquer_calls: int = 0
    candidates: tuple[str, ...] = ()  # code of each candidate: the function and any extras
    test_calls: int = 0
    written: WrittenTests | None = None
    executed: bool = False  # the consensus inputs ran (or there were none to run)
    rows: tuple[tuple[Cell, ...], ...] = ()  # per candidate, per input: output key, None, UNKNOWN
    resume_queue: tuple[int, ...] = ()  # candidates whose inputs after a timeout are still to run
    unit: tuple[tuple[Verdict, ...] | None, ...] = ()  # per candidate: a verdict per unit suite
    unit_pending: tuple[int, ...] = ()  # the candidates whose unit tests are running
    unit_partial: tuple[tuple[Verdict, ...], ...] = ()  # their verdicts so far, per suite
    accepted: str | None = None
    scores: tuple[float | None, ...] = ()

    @property
    def ref(self) -> NodeRef:
        return NodeRef(self.node_id, self.parent_id, self.depth)


@dataclass(frozen=True)
class FunCoderState:
    problem: Problem
    seed: int
    nodes: tuple[FcNode, ...]
    stack: tuple[str, ...] = ("root",)  # open nodes, innermost last
    known: frozenset[str] = frozenset()  # function names with a node (never re-invented)
    decompositions: int = 0  # divide outputs that introduced at least one helper

    def node(self, node_id: str) -> FcNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def with_node(self, updated: FcNode) -> "FunCoderState":
        return replace(self, nodes=tuple(updated if n.node_id == updated.node_id else n for n in self.nodes))


class FunCoder(Policy):
    name = "funcoder"
    uses_planner = True
    PARAMS = (
        Param("max_depth", int, 6, "nodes live at depths 0..max_depth-1",
              source=f"{HPARAMS}:11 dfs_max_depth=6",
              minimum=1, maximum=10),
        Param("divide_temperature", float, 0.2, "temperature of the divide call",
              source=f"{HPARAMS}:13 divide_temperature=0.2", minimum=0.0, maximum=2.0),
        Param("n", int, 10, "implementations sampled per conquer call",
              source=f"{HPARAMS}:23 conquer_samples=10", minimum=1, maximum=50),
        Param("min_samples", int, 5, "usable implementations wanted; fewer re-asks",
              source=f"{HPARAMS}:24 conquer_min_samples=5", minimum=1),
        Param("conquer_calls", int, 3, "conquer calls at most per node",
              source=f"{HPARAMS}:25 conquer_retries=3", minimum=1, maximum=10),
        Param("temperature", float, 0.8, "temperature of the conquer samples",
              source=f"{HPARAMS}:22 conquer_temperature=0.8", minimum=0.0, maximum=2.0),
        Param("test_temperature", float, 0.2, "temperature of the test-writing calls",
              source=f"{HPARAMS}:19 fc_temperature=0.2", minimum=0.0, maximum=2.0),
        Param("tests", str, "generated", "where the root's unit tests come from",
              source=f"{HPARAMS}:16 fc_root_sys_test_prompt=sys_test_args",
              choices=("generated", "public", "both")),
    )  # fmt: skip

    @property
    def _divide_role(self) -> str:
        """One model, as the authors ran it, unless the spec names a planner for the divides."""
        return PLANNER if "planner" in dict(self.spec.params) else GENERATOR

    # ----------------------------------------------------------------- the loop
    def start(self, problem: Problem, seed: int) -> FunCoderState:
        root = FcNode("root", problem.entry_point, None, 0, problem.prompt.strip("\n") + "\n")
        given = set(defined_functions(problem.prompt)) - {problem.entry_point}
        return FunCoderState(problem, seed, (root,), known=frozenset({problem.entry_point} | given))

    def step(self, state: FunCoderState, observation):
        if observation is not None:
            state = self._absorb(state, state.node(state.stack[-1]), observation)
        while state.stack:
            node = state.node(state.stack[-1])
            state, action = self._advance(state, node)
            if action is not None:
                return state, action
        return state, self._submit(state)

    def _advance(self, state: FunCoderState, node: FcNode):
        """The next action for the innermost open node, or (state, None) after moving on."""
        if node.stage == "divide":
            if node.depth >= self.params["max_depth"] - 1:
                return state.with_node(replace(node, stage="conquer")), None
            return self._ask_divide(state, node)
        if node.stage == "children":
            if node.next_child < len(node.children):
                child = node.children[node.next_child]
                state = state.with_node(replace(node, next_child=node.next_child + 1))
                return replace(state, stack=state.stack + (child,)), None
            return state.with_node(replace(node, stage="conquer")), None
        if node.stage == "conquer":
            return self._ask_conquer(state, node)
        if node.stage == "tests":
            return self._ask_tests(state, node)
        if node.stage == "execute":
            return self._execute(state, node)
        if node.stage == "decide":
            return state.with_node(self._decide(state, node)), None
        if node.stage == "verify":
            return state, self._verify_pending(state, node)
        if node.stage == "resume":
            return state, self._resume(state, node)
        return replace(state, stack=state.stack[:-1]), None  # done: back to the parent

    def _absorb(self, state: FunCoderState, node: FcNode, observation) -> FunCoderState:
        if node.stage == "divide":
            return self._absorb_divide(state, node, observation)
        if node.stage == "conquer":
            return state.with_node(self._absorb_conquer(state, node, observation))
        if node.stage == "tests":
            return state.with_node(self._absorb_tests(state, node, observation))
        if node.stage == "execute":
            rows = tuple(_cells(outputs) for outputs in observation.outputs)
            return state.with_node(replace(node, executed=True, rows=rows, stage="decide"))
        if node.stage == "verify":
            return state.with_node(self._absorb_unit(state, node, observation))
        if node.stage == "resume":
            return state.with_node(_absorb_resumed(node, observation))
        raise ValueError(f"funcoder: observation at stage {node.stage!r}")

    # ----------------------------------------------------------------- divide
    def _ask_divide(self, state: FunCoderState, node: FcNode):
        code = self._context_code(state, node, node.shown)
        messages, sha = render("divide", code=code.strip("\n"), target=node.name)
        action = Generate(
            role=self._divide_role, kind="divide", messages=messages, n=1,
            temperature=self.params["divide_temperature"],
            node=replace(node.ref, attempt=node.divide_calls), prompt_sha256=sha, target=node.name,
        )  # fmt: skip
        return state.with_node(replace(node, divide_calls=node.divide_calls + 1)), action

    def _absorb_divide(self, state: FunCoderState, node: FcNode, observation: Generated) -> FunCoderState:
        signature = self._signature(state, node)
        extracted = read_code(observation.texts[0] if observation.texts else "", node.name, signature)
        if not extracted.ok and not observation.all_failed and node.divide_calls < DIVIDE_RETRIES:
            return state.with_node(node)  # ask again
        if not extracted.ok:  # no usable divide: conquer the node as a leaf
            return state.with_node(replace(node, stage="conquer"))
        helpers = [f for f in extracted.functions if f != node.name and f not in state.known]
        children = []
        for index, helper in enumerate(helpers):
            shown = function_source(extracted.code, helper) or stub_of(extracted.code, helper) or ""
            child_id = f"{node.node_id}.{len(node.children) + index}"
            children.append(FcNode(child_id, helper, node.node_id, node.depth + 1, shown))
        divided = _without_stubs(extracted.code, extracted.stubs) if node.name not in extracted.stubs else None
        updated = replace(node, divided=divided, children=tuple(c.node_id for c in children), stage="children")
        state = state.with_node(updated)
        return replace(
            state,
            nodes=state.nodes + tuple(children),
            known=state.known | set(helpers),
            decompositions=state.decompositions + (1 if helpers else 0),
        )

    # ----------------------------------------------------------------- conquer
    def _ask_conquer(self, state: FunCoderState, node: FcNode):
        stub = self._conquer_stub(state, node)
        code = self._descendant_code(state, node) + "\n\n" + stub
        messages, sha = render("conquer", code=code.strip("\n"), target=node.name)
        action = Generate(
            role=GENERATOR, kind="conquer", messages=messages, n=self.params["n"],
            temperature=self.params["temperature"],
            node=replace(node.ref, attempt=node.conquer_calls), prompt_sha256=sha, target=node.name,
        )  # fmt: skip
        return state.with_node(replace(node, conquer_calls=node.conquer_calls + 1)), action

    def _absorb_conquer(self, state: FunCoderState, node: FcNode, observation: Generated) -> FcNode:
        signature = self._signature(state, node)
        fresh = []
        for text, error in zip(observation.texts, observation.errors):
            extracted = read_code(text, node.name, signature) if not error else None
            if extracted is not None and extracted.ok:
                fresh.append(_without_stubs(extracted.code, extracted.stubs))
        node = replace(node, candidates=node.candidates + tuple(fresh))
        if len(node.candidates) < self.params["min_samples"] and node.conquer_calls < self.params["conquer_calls"]:
            return node  # ask again
        candidates = ((node.divided,) if node.divided else ()) + node.candidates
        if len(candidates) <= 1:
            fallback = candidates[0] if candidates else (node.divided or self._conquer_stub(state, node))
            return replace(node, candidates=candidates, accepted=fallback, stage="done")
        return replace(node, candidates=candidates, stage="tests")

    # ----------------------------------------------------------------- tests and consensus
    def _ask_tests(self, state: FunCoderState, node: FcNode):
        at_root_generated = node.node_id == "root" and self.params["tests"] in ("generated", "both")
        name = "write_tests" if at_root_generated else "write_calls"
        messages, sha = render(name, code=self._conquer_stub(state, node).strip("\n"), target=node.name)
        action = Generate(
            role=GENERATOR, kind="write_tests", messages=messages, n=1,
            temperature=self.params["test_temperature"],
            node=replace(node.ref, attempt=node.test_calls), prompt_sha256=sha, target=node.name,
        )  # fmt: skip
        return state.with_node(replace(node, test_calls=node.test_calls + 1)), action

    def _absorb_tests(self, state: FunCoderState, node: FcNode, observation: Generated) -> FcNode:
        written = parse_written_tests(observation.texts, node.name)
        if not written.statements and node.test_calls < TEST_RETRIES and not observation.all_failed:
            return replace(node, written=written)  # ask again
        return replace(node, written=written, stage="execute")

    def _programs(self, state: FunCoderState, node: FcNode) -> tuple[str, ...]:
        below = self._descendant_code(state, node)
        return tuple(
            _with_prompt_code(state.problem, compose(candidate, [below] if below else [], keep=(node.name,)))
            for candidate in node.candidates
        )

    def _execute(self, state: FunCoderState, node: FcNode):
        inputs = node.written.call_inputs if node.written else ()
        tests = call_tests(node.name, inputs)
        node = replace(node, unit=(None,) * len(node.candidates))
        if tests is None:
            rows = ((),) * len(node.candidates)
            return state.with_node(replace(node, executed=False, rows=rows, stage="decide")), None
        # Inputs after a candidate's first timeout are run only if the decision needs them.
        action = Execute(self._programs(state, node), tests, node.ref, stop_at_timeout=True)
        return state.with_node(node), action

    def _unit_suites(self, state: FunCoderState, node: FcNode):
        if node.node_id != "root":
            return ()
        written = node.written
        asserts_only = WrittenTests(written.asserts, ()) if written else None
        return suites_for(self.params["tests"], state.problem, asserts_only)

    def _decide(self, state: FunCoderState, node: FcNode) -> FcNode:
        """The consensus winner, or what to run first to know it (``consensus_decision``)."""
        suites = self._unit_suites(state, node)
        if suites:
            unit_failed = [None if v is None else not _unit_tally(suites, v).all_passed for v in node.unit]
        else:
            unit_failed = [False] * len(node.candidates)
        seed = tie_break_seed(state.problem.task_id, state.seed, node.node_id)
        decision = decide(node.rows, unit_failed, seed)
        if isinstance(decision, VerifyUnits):
            return replace(node, unit_pending=decision.candidates, unit_partial=(), stage="verify")
        if isinstance(decision, ResumeInputs):
            return replace(node, resume_queue=decision.candidates, stage="resume")
        scores = tuple(None if math.isnan(score) else score for score in decision.selection.scores)
        return replace(node, accepted=node.candidates[decision.selection.index], scores=scores, stage="done")

    def _verify_pending(self, state: FunCoderState, node: FcNode) -> Verify:
        suite = self._unit_suites(state, node)[len(node.unit_partial)]
        programs = self._programs(state, node)
        action = suite.verify([programs[i] for i in node.unit_pending], node.ref)
        return replace(action, sample_indices=node.unit_pending)

    def _absorb_unit(self, state: FunCoderState, node: FcNode, observation: Verified) -> FcNode:
        partial = node.unit_partial + (observation.verdicts,)
        if len(partial) < len(self._unit_suites(state, node)):
            return replace(node, unit_partial=partial)
        unit = list(node.unit)
        for position, candidate in enumerate(node.unit_pending):
            unit[candidate] = tuple(verdicts[position] for verdicts in partial)
        return replace(node, unit=tuple(unit), unit_pending=(), unit_partial=(), stage="decide")

    def _resume(self, state: FunCoderState, node: FcNode) -> Execute:
        candidate = node.resume_queue[0]
        first = node.rows[candidate].index(UNKNOWN)
        tests = call_tests(node.name, node.written.call_inputs[first:])
        program = self._programs(state, node)[candidate]
        return Execute((program,), tests, node.ref, stop_at_timeout=True, sample_indices=(candidate,))

    # ----------------------------------------------------------------- program text
    def _signature(self, state: FunCoderState, node: FcNode):
        source = state.problem.prompt if node.node_id == "root" else node.shown
        return function_signature(source, node.name)

    def _conquer_stub(self, state: FunCoderState, node: FcNode) -> str:
        """The function as conquer shows it: signature and docstring (the root keeps the
        problem's own docstring, as the reference's ``opt_patch_refine_root_docstring``)."""
        if node.node_id == "root" and f"def {node.name}" in state.problem.prompt:
            return state.problem.prompt.strip("\n") + "\n    raise NotImplementedError()\n"
        for source in (node.divided, node.shown):
            stub = stub_of(source, node.name) if source else None
            if stub:
                return stub
        return node.shown

    def _context_code(self, state: FunCoderState, node: FcNode, own: str) -> str:
        """What the divide request shows: the ancestors' code as written so far, then the node."""
        parts = []
        parent_id = node.parent_id
        while parent_id is not None:
            parent = state.node(parent_id)
            parts.insert(0, parent.divided or parent.shown)
            parent_id = parent.parent_id
        return compose("\n\n".join(parts), [own]) if parts else own

    def _descendant_code(self, state: FunCoderState, node: FcNode) -> str:
        pieces = []
        for child_id in node.children:
            child = state.node(child_id)
            below = self._descendant_code(state, child)
            own = child.accepted or self._conquer_stub(state, child)
            pieces.append(compose(own, [below], keep=(child.name,)) if below else own)
        return compose(pieces[0], pieces[1:]) if pieces else ""

    def _submit(self, state: FunCoderState) -> Submit:
        root = state.node("root")
        below = self._descendant_code(state, root)
        own = root.accepted or ""
        program = compose(own, [below], keep=(root.name,)) if below and own else own
        winner = root.candidates.index(root.accepted) if root.accepted in root.candidates else None
        tested = any(v is not None for v in root.unit)
        suites = self._unit_suites(state, root) if tested else ()
        verdicts = root.unit[winner] if suites and winner is not None else None
        result = _unit_tally(suites, verdicts) if verdicts else None
        return Submit(
            program=_with_prompt_code(state.problem, program) if program else None,
            accepted_unverified=not tested and not root.executed,
            selected_on=selected_on(suites),
            selected_tests_total=result.total if result else 0,
            selected_tests_passed=result.passed if result else 0,
            tree_json=self._tree_json(state),
            nodes=len(state.nodes),
            max_depth=max(n.depth for n in state.nodes),
            decompositions=state.decompositions,
        )

    @staticmethod
    def _tree_json(state: FunCoderState) -> str:
        return json.dumps([
            {"id": n.node_id, "name": n.name, "parent": n.parent_id, "depth": n.depth,
             "children": list(n.children), "candidates": len(n.candidates), "scores": list(n.scores)}
            for n in state.nodes
        ], separators=(",", ":"))  # fmt: skip
