"""PaT's tree: one frozen ``PatNode`` per function (the root, then each helper), what a node's
tests are, and how a node's program is put together from its own code and its children's.

A node's ``implementation`` is always self-contained code that defines its target: the trial's
selected sample, or the planner's rewrite of the function composed with every child's
implementation. The tree is data in the policy's state; nothing here performs I/O.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass

from sandbox.types import AssertTests, TestSpec
from tasks.policies.engine import NodeRef
from tasks.policies.program import compose


@dataclass(frozen=True)
class Attempt:
    """One decomposition of a node: the planner's rewrite and the children it introduced."""

    number: int  # 1-based
    parent_code: str | None  # None: the planner's answer could not be used
    children: tuple[str, ...] = ()  # child node ids, in the order the planner declared them
    tests_passed: int | None = None  # the composed program on the node's tests
    tests_total: int = 0


@dataclass(frozen=True)
class PatNode:
    node_id: str
    parent_id: str | None
    depth: int
    target: str  # function name ("" for a whole stdin/stdout program)
    spec_code: str  # what the node must implement: the prompt, or the helper's stub
    context: str = ""  # the parent's code the helper is called from
    signature: tuple | None = None
    phase: str = "trial"
    # trial
    rounds: int = 0  # generation requests made (re-asks included)
    samples: tuple[str, ...] = ()  # programs of the samples that count, in sample order
    test_tries: int = 0
    tests: tuple[tuple[str, TestSpec], ...] = ()  # (source, spec) the node is checked on
    trial_passed: bool | None = None
    trial_best: str | None = None
    trial_best_passed: int = -1
    # decomposition
    attempts: tuple[Attempt, ...] = ()
    decompose_tries: int = 0  # planner requests for the current attempt
    pending_children: tuple[str, ...] = ()  # children of the current attempt still to run
    kept_attempt: int | None = None  # the attempt whose program was kept (after a revert too)
    reverted: bool = False
    # result
    implementation: str | None = None
    selected_tests_passed: int = 0
    selected_tests_total: int = 0
    accepted_unverified: bool = False
    done: bool = False

    def ref(self, attempt: int = 0) -> NodeRef:
        return NodeRef(self.node_id, self.parent_id, self.depth, attempt)

    @property
    def attempt_number(self) -> int:
        return len(self.attempts)


def parse_generated_tests(code: str, target: str, asserts_allowed: bool) -> tuple[str, ...]:
    """One test per top-level statement of the answer's code: ``assert`` lines that call the
    target (root of a function benchmark only) and bare calls of the target (call-only: the
    test passes when the call raises nothing). Anything else is not a test."""
    try:
        module = ast.parse(code)
    except SyntaxError:
        return ()
    lines = code.splitlines()
    tests = []
    for statement in module.body:
        text = "\n".join(lines[statement.lineno - 1 : statement.end_lineno]).strip()
        if not _calls(statement, target):
            continue
        if isinstance(statement, ast.Assert) and asserts_allowed:
            tests.append(text)
        elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
            tests.append(text)
    return tuple(dict.fromkeys(tests))  # a repeated test counts once


def _calls(statement: ast.stmt, target: str) -> bool:
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == target
        for node in ast.walk(statement)
    )


def as_assert_tests(tests: tuple[str, ...]) -> AssertTests:
    return AssertTests(asserts=tests)


def composed(nodes: dict[str, PatNode], node: PatNode, attempt: Attempt) -> str:
    """The attempt's program: the planner's rewrite of the node, minus its stubs, then each
    child's implementation (a child with none leaves its stub, which then fails at run time)."""
    parts = [nodes[c].implementation for c in attempt.children if nodes[c].implementation]
    keep = (node.target,) if node.target else ()
    return compose(attempt.parent_code or "", parts, keep=keep)


def tree_json(nodes: dict[str, PatNode], root_id: str = "root") -> str:
    """The kept tree (each node's kept attempt's children), with every node's attempts."""

    def describe(node_id: str) -> dict:
        node = nodes[node_id]
        kept = next((a for a in node.attempts if a.number == node.kept_attempt), None)
        return {
            "id": node.node_id,
            "target": node.target,
            "depth": node.depth,
            "samples": len(node.samples),
            "trial_passed": node.trial_passed,
            "tests": sum(len(getattr(spec, "asserts", ())) or 1 for _, spec in node.tests),
            "accepted_unverified": node.accepted_unverified,
            "attempts": [
                {"number": a.number, "usable": a.parent_code is not None,
                 "children": list(a.children), "tests_passed": a.tests_passed}
                for a in node.attempts
            ],  # fmt: skip
            "kept_attempt": node.kept_attempt,
            "reverted": node.reverted,
            "children": [describe(child) for child in (kept.children if kept else ())],
        }

    return json.dumps(describe(root_id), separators=(",", ":"))


def kept_tree_ids(nodes: dict[str, PatNode], root_id: str = "root") -> list[str]:
    ids = []
    stack = [root_id]
    while stack:
        node = nodes[stack.pop()]
        ids.append(node.node_id)
        kept = next((a for a in node.attempts if a.number == node.kept_attempt), None)
        stack.extend(reversed(kept.children) if kept else ())
    return ids
