"""The simulator's answers to tree requests (PaT's decomposition, helper code, written tests).

- Decomposition (``decompose``): code, as a planner writes it — the node's function keeps its
  name, arguments and docstring and calls a new helper stub ``<target>_core`` (signature and
  docstring, body ``raise NotImplementedError()``) into which the function's whole body is
  lifted. A weak planner (P = 1 - sigmoid(plan_logit)) writes a wrong parent: the helper's
  result is negated/shifted, or the arguments are passed in the wrong order.
- Helper code (``generate`` for a target other than the entry point): the lifted body — the
  reference solution renamed to the helper — or a mutation of it. A helper is an easier task
  than its parent: its P(correct) gets ``HELPER_BONUS`` logits more. Different samples draw
  different mutations, which produce different outputs, so agreement between samples means
  something.
- Tests (``write_tests``): the examples the prompt shows (the dataset's public examples, as a
  model reads them off the docstring or MBPP's example assert) as asserts at a function root,
  and call-only lines with the same inputs; at a helper, call-only lines with the root's example
  inputs. A prompt without examples gets call-only lines with inputs invented from the
  signature (annotations, else the argument's name), as a model would guess them. Copying an
  example is easy: an assert is wrong (``==`` flipped) at ``COPY_ERROR_SHARE`` of the skill's
  error rate ``1 - tests_accuracy``; a call-only line is invalid (no arguments) at
  ``INVALID_SHARE`` of it.

Everything is a fixed function of the request (and the registered problem): no state is kept
between requests, so a cached decomposition and a fresh helper request still agree.
"""

from __future__ import annotations

import ast
import functools
import random
import re

from tasks.records import Problem
from tasks.models import sim_inputs

HELPER_SUFFIX = "_core"
HELPER_BONUS = 1.0  # logits: a lifted helper is an easier task than its parent
INVALID_SHARE = 0.25  # a call-only line is invalid at this share of the skill's error rate
COPY_ERROR_SHARE = 0.5  # an example copied as an assert is wrong at this share of it


def root_of(target: str, entry_point: str) -> int | None:
    """How many ``_core`` lifts ``target`` is below the entry point, or None if unrelated."""
    depth = 0
    while target != entry_point:
        if not target.endswith(HELPER_SUFFIX):
            return None
        target = target[: -len(HELPER_SUFFIX)]
        depth += 1
    return depth


@functools.lru_cache(maxsize=4096)  # every helper answer asks again; a pure function of its text
def renamed(source: str, old: str, new: str) -> str | None:
    """``source`` with top-level function ``old`` renamed ``new`` (its own calls to ``old`` are
    left alone: in a composed program they reach the parent, which calls this helper)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == old:
            node.name = new
            return ast.unparse(tree) + "\n"
    return None


def lifted_source(problem: Problem, target: str) -> str | None:
    """The code a helper ``target`` should have: the reference with the entry renamed."""
    if not problem.reference_solution or not problem.entry_point:
        return None
    if target == problem.entry_point:
        return problem.reference_solution
    if root_of(target, problem.entry_point) is None:
        return None
    return renamed(problem.reference_solution, problem.entry_point, target)


def _function(source: str, name: str) -> ast.FunctionDef | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def decomposition(problem: Problem, target: str, good: bool, rng: random.Random) -> str | None:
    """The planner's rewrite of ``target`` calling ``<target>_core``, or None if it has no code."""
    source = lifted_source(problem, target)
    function = _function(source, target) if source else None
    if function is None:
        return None
    helper = target + HELPER_SUFFIX
    args = [a.arg for a in function.args.args]
    call_args = list(args)
    shape = "plain"
    if not good:
        shape = rng.choice(["negated", "swapped"] if len(args) > 1 else ["negated", "shifted"])
        if shape == "swapped":
            call_args[0], call_args[1] = call_args[1], call_args[0]
    call = f"{helper}({', '.join(call_args)})"
    result = {"plain": call, "swapped": call, "negated": f"not {call}", "shifted": f"{call} + 1"}[shape]
    signature = ast.unparse(function.args)
    returns = f" -> {ast.unparse(function.returns)}" if function.returns else ""
    doc = ast.get_docstring(function) or f"Compute {target}."
    doc = doc.replace('"""', "'''").replace("\n", "\n    ")
    helper_doc = f"The whole computation of {target}: {doc.splitlines()[0]}"
    return (
        f"def {target}({signature}){returns}:\n    \"\"\"{doc}\"\"\"\n    return {result}\n\n\n"
        f"def {helper}({signature}){returns}:\n    \"\"\"{helper_doc}\"\"\"\n"
        f"    raise NotImplementedError()\n"
    )


_DOCTEST = re.compile(r">>>\s*(.+?)\n\s*([^\n>][^\n]*)")
_ASSERT = re.compile(r"^\s*assert\s+(.+)$", re.MULTILINE)


def example_calls(problem: Problem) -> list[tuple[str, str]]:
    """(call expression, the example as an assert line) for the examples the prompt shows: the
    dataset's public examples where it has them (read off the same docstring), else the
    prompt's ``>>>`` lines or example asserts."""
    public = sim_inputs.public_example_calls(problem)
    if public:
        return public
    found = [(call, f"assert {call} == {e.strip()}") for call, e in
             ((_without_comment(c), e) for c, e in _DOCTEST.findall(problem.prompt))]  # fmt: skip
    if not found and problem.entry_point:
        for body in _ASSERT.findall(problem.prompt):
            match = re.search(rf"\b{re.escape(problem.entry_point)}\s*\(", body)
            call = _balanced_call(body, match.start()) if match else ""
            if call:
                found.append((call, f"assert {body.strip()}"))
    return found


def _without_comment(code: str) -> str:
    """``code`` without a trailing ``# comment`` (kept whole if that would not parse)."""
    code = code.strip()
    head = code.split(" #", 1)[0].strip()
    if head != code:
        try:
            ast.parse(head)
            return head
        except SyntaxError:
            pass
    return code


def _balanced_call(text: str, start: int) -> str:
    depth = 0
    for index in range(text.index("(", start), len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return text[start : index + 1]
    return ""


def written_tests(problem: Problem, target: str, accuracy: float, rng: random.Random) -> list[str]:
    """Asserts (root only) and call-only lines for ``target``; some wrong or invalid."""
    lines = []
    examples = example_calls(problem)[:6]
    if not examples:
        examples = [(call, "") for call in sim_inputs.invented_calls(problem)]
    for call, assert_line in examples:
        if target == problem.entry_point and assert_line:
            if rng.random() > 1 - (1 - accuracy) * COPY_ERROR_SHARE:
                assert_line = assert_line.replace("==", "!=", 1) if "==" in assert_line else \
                    f"assert not ({assert_line[len('assert '):]})"
            lines.append(assert_line)
        line = call.replace(f"{problem.entry_point}(", f"{target}(", 1)
        invalid = rng.random() < (1 - accuracy) * INVALID_SHARE
        lines.append(f"{target}()" if invalid else line)  # invalid: wrong arity
    return list(dict.fromkeys(lines)) or [f"{target}()"]
