"""EvalPlus-format problems (HumanEval+, HumanEval+ Mini, MBPP+, and custom files alike).

Records carry ``task_id, prompt, entry_point, canonical_solution, base_input`` and optionally
``plus_input``, ``atol``, ``assertion`` (MBPP+), ``test`` (HumanEval+), ``contract``.

Guarantees and decisions:
- Expected outputs do not exist upstream: they are computed by running the canonical solution
  in the sandbox on every input (cached; see ``reference_runs``). An input the reference
  cannot answer (error, timeout, output that cannot cross the process boundary) is dropped
  from the suite, never given a made-up expected value.
- Hidden suites "base" (``base_input``) and "plus" (``plus_input``) are ``CallTests``, scored
  separately; each test's time limit is max(2 s, 6 x the reference's measured time).
- ``atol`` per task; HumanEval/32 (``find_zero``) uses ``comparison="polynomial_root"``.
- MBPP+ inputs are JSON, which has no tuples and no complex numbers. The argument shapes are
  read from the task's own first ``assertion`` call (e.g. ``similar_elements((3, 4), ...)``)
  and every input is converted to match: lists become tuples where the example has a tuple,
  numeric strings become complex numbers where the example has a number (Mbpp/124, 252).
- MBPP+ comparison follows the task's own prompt example: ``set(f(x)) == set(y)`` compares
  as sets (Mbpp/2, 7, 111, 140, 232); a bare ``assert f(x)`` / ``assert not f(x)`` compares
  truthiness, but only when the reference's values cannot cross the process boundary
  (Mbpp/737, 787, 794 return ``re.Match``); otherwise equality holds (Mbpp/781, 803, 804).
  Set and truthiness suites are ``AssertTests`` generated from the computed expected values.
- Public tests: HumanEval+ the docstring examples (as HumanEval); MBPP+ the example assert in
  the prompt, with the imports its ``assertion`` block declares (plus ``import math`` when the
  assert uses ``math.`` undeclared: the upstream data bug in Mbpp/120).
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from sandbox.types import AssertTests, CallTests, TestSpec

from tasks.benchmarks.drafts import (
    Draft,
    called_names,
    defined_functions,
    keep_passing,
    kept_time_limits,
    literal_roundtrips,
    public_call_tests,
    signature_line,
)
from tasks.benchmarks.reference_runs import ReferenceJob, ReferenceRun
from tasks.benchmarks.sources import BenchmarkError, require_fields
from tasks.records import DatasetInfo, HiddenSuite, Problem

EVALPLUS_FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "base_input")
POLYNOMIAL_ROOT_TASKS = {"HumanEval/32"}
TRUTHINESS_PROBE = "__patflow_truthiness__"


def evalplus_drafts(
    path: Path, records: list[tuple[int, dict[str, Any]]], info: DatasetInfo, public_mode: str
) -> list[Draft]:
    drafts = []
    for line_number, record in records:
        require_fields(path, line_number, record, EVALPLUS_FIELDS, "EvalPlus")
        for field_name in ("base_input", "plus_input"):
            value = record.get(field_name) or []  # Mbpp/793 has plus_input {} (no inputs)
            if not isinstance(value, list) or not all(isinstance(args, list) for args in value):
                raise BenchmarkError(
                    f"{path}:{line_number}: field '{field_name}' must be a list of argument lists"
                )
        drafts.append(_draft(record, info, public_mode))
    return drafts


def _draft(record: dict[str, Any], info: DatasetInfo, public_mode: str) -> Draft:
    task_id = str(record["task_id"])
    prompt: str = record["prompt"]
    entry_point: str = record["entry_point"]
    canonical: str = record["canonical_solution"]
    atol = float(record.get("atol") or 0.0)
    if entry_point in defined_functions(canonical):
        reference, completion_prefix = canonical, ""
    else:
        reference, completion_prefix = prompt + canonical, prompt

    prompt_asserts = [line.strip() for line in prompt.splitlines() if line.strip().startswith("assert")]
    mbpp_style = "assertion" in record or (prompt_asserts and completion_prefix == "")
    template = _argument_template(record.get("assertion", ""), entry_point)
    suites_inputs = {
        name: [_conform(tuple(args), template) for args in record.get(field_name) or []]
        for name, field_name in (("base", "base_input"), ("plus", "plus_input"))
    }
    comparison = _comparison_style(prompt_asserts[0] if prompt_asserts else "", entry_point)

    if mbpp_style:
        public = _public_assert(prompt_asserts, record.get("assertion", "")) if public_mode == "default" else None
        shown_prompt = prompt if public_mode == "default" else _prompt_without_asserts(prompt, reference, entry_point)
    else:
        public = public_call_tests(prompt, entry_point, atol) if public_mode == "default" else None
        shown_prompt = prompt
    if public is not None and isinstance(public, CallTests) and task_id in POLYNOMIAL_ROOT_TASKS:
        public = replace(public, comparison="polynomial_root")

    jobs = [
        ReferenceJob(f"{task_id}/{name}", reference, CallTests(entry_point, tuple(inputs), None))
        for name, inputs in suites_inputs.items()
        if inputs
    ]
    if comparison == "truthiness":
        # Only when the reference's own values cannot be expected values (re.Match objects do
        # not cross the process boundary) is truthiness compared; otherwise equality, as usual.
        probe = reference + f"\n\ndef {TRUTHINESS_PROBE}(*args):\n    return bool({entry_point}(*args))\n"
        jobs += [
            ReferenceJob(f"{task_id}/{name}/truthiness", probe, CallTests(TRUTHINESS_PROBE, tuple(inputs), None))
            for name, inputs in suites_inputs.items()
            if inputs
        ]
    if public is not None:
        jobs.append(ReferenceJob(f"{task_id}/public", reference, public))

    def finish(runs: dict[str, ReferenceRun]) -> Problem:
        style = comparison
        if comparison == "truthiness" and all(
            runs[f"{task_id}/{name}"].passed(i) or not runs[f"{task_id}/{name}/truthiness"].passed(i)
            for name, inputs in suites_inputs.items()
            for i in range(len(inputs))
        ):
            style = "equal"  # every value the reference returns can be compared exactly
        suites = []
        for name, inputs in suites_inputs.items():
            run = runs.get(f"{task_id}/{name}" + ("/truthiness" if style == "truthiness" else ""))
            if run is None:
                continue
            keep = [i for i in range(len(inputs)) if run.passed(i)]
            tests = _suite_tests(entry_point, style, [inputs[i] for i in keep],
                                 [run.outputs[i] for i in keep], atol, task_id)
            if tests is not None:
                suites.append(HiddenSuite(name, tests, run.time_limits_s(keep)))
        return Problem(
            task_id=task_id,
            prompt=shown_prompt,
            entry_point=entry_point,
            public_tests=keep_passing(public, runs.get(f"{task_id}/public")),
            public_time_limits_s=kept_time_limits(public, runs.get(f"{task_id}/public")),
            hidden_suites=tuple(suites),
            reference_solution=reference,
            test_format=suites[0].tests.kind if suites else "call",
            dataset=info,
            completion_prefix=completion_prefix if public_mode == "default" or not mbpp_style else "",
        )

    return Draft(task_id, tuple(jobs), finish)


def _suite_tests(
    entry_point: str, comparison: str, inputs: list[tuple], outputs: list[Any], atol: float, task_id: str
) -> TestSpec | None:
    if comparison == "equal":
        if not inputs:
            return None
        return CallTests(
            entry_point=entry_point,
            inputs=tuple(inputs),
            expected=tuple(outputs),
            atol=atol,
            comparison="polynomial_root" if task_id in POLYNOMIAL_ROOT_TASKS else "equal",
        )
    asserts = []
    for args, expected in zip(inputs, outputs):
        if not (literal_roundtrips(args) and literal_roundtrips(expected)):
            continue  # cannot be written as an assert faithfully; dropped like an unanswerable input
        call = f"{entry_point}(*{args!r})"
        if comparison == "set":
            asserts.append(f"assert set({call}) == set({expected!r})")
        else:
            asserts.append(f"assert bool({call}) == {bool(expected)!r}")
    return AssertTests(asserts=tuple(asserts), entry_point=entry_point) if asserts else None


def _comparison_style(example_assert: str, entry_point: str) -> str:
    """'set', 'truthiness' or 'equal', as the task's own prompt example compares."""
    text = example_assert.strip()
    if _is_set_comparison(text, entry_point):
        return "set"
    bare = re.match(rf"assert\s+(not\s+)?{re.escape(entry_point)}\((.*)\)\s*$", text)
    if bare:
        try:
            node = ast.parse(text).body[0]
        except SyntaxError:
            return "equal"
        test = node.test.operand if isinstance(node.test, ast.UnaryOp) else node.test
        if isinstance(test, ast.Call):
            return "truthiness"
    return "equal"


def _is_set_comparison(text: str, entry_point: str) -> bool:
    """``assert set(f(...)) == set(...)`` (any spacing)."""
    try:
        node = ast.parse(text).body[0]
    except (SyntaxError, IndexError):
        return False
    test = getattr(node, "test", None)
    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False

    def is_set_call(expression: ast.AST, around_entry: bool) -> bool:
        if not (isinstance(expression, ast.Call) and isinstance(expression.func, ast.Name) and expression.func.id == "set"):
            return False
        if not around_entry:
            return True
        inner = expression.args[0] if len(expression.args) == 1 else None
        return isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == entry_point

    return is_set_call(test.left, True) and is_set_call(test.comparators[0], False)


def _public_assert(prompt_asserts: list[str], assertion_block: str) -> AssertTests | None:
    if not prompt_asserts:
        return None
    first = prompt_asserts[0]
    imports = [line.strip() for line in assertion_block.splitlines() if re.match(r"\s*(import|from)\s+\w", line)]
    if re.search(r"\bmath\.", first) and not any(re.search(r"\bmath\b", line) for line in imports):
        imports.append("import math")  # upstream data bug (Mbpp/120): the assert uses math undeclared
    return AssertTests(asserts=(first,), imports="\n".join(imports))


def _prompt_without_asserts(prompt: str, reference: str, entry_point: str) -> str:
    lines = [line for line in prompt.splitlines() if not line.strip().startswith("assert")]
    text = "\n".join(lines).rstrip()
    if text.endswith('"""'):
        text = text[: -3].rstrip()
    return f'{text}\nWrite it as: {signature_line(reference, entry_point)}\n"""\n'


# --------------------------------------------------------------------------- argument shapes
def _argument_template(assertion_block: str, entry_point: str) -> tuple | None:
    """The literal arguments of the first ``entry_point(...)`` call in the asserts, if any."""
    for line in assertion_block.splitlines():
        if not line.strip().startswith("assert") or entry_point not in called_names(line):
            continue
        try:
            tree = ast.parse(line.strip())
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point:
                try:
                    return tuple(ast.literal_eval(argument) for argument in node.args)
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    return None
    return None


def _conform(args: tuple, template: tuple | None) -> tuple:
    if template is None or len(template) != len(args):
        return args
    return tuple(_conform_value(value, shape) for value, shape in zip(args, template))


def _conform_value(value: Any, shape: Any) -> Any:
    if isinstance(shape, (tuple, list)) and isinstance(value, list):
        items = [_conform_value(item, _element_shape(shape, index, item, len(value))) for index, item in enumerate(value)]
        return tuple(items) if isinstance(shape, tuple) else items
    if isinstance(shape, dict) and isinstance(value, dict) and shape:
        sample = next(iter(shape.values()))
        return {key: _conform_value(item, sample) for key, item in value.items()}
    if isinstance(shape, (int, float, complex)) and not isinstance(shape, bool) and isinstance(value, str):
        try:
            return complex(value)
        except ValueError:
            return value
    return value


def _element_shape(shape: tuple | list, index: int, item: Any, length: int) -> Any:
    """The example element an input element should look like.

    Position-wise when the example has the same length (record-like tuples), else the first
    example element of the same kind (container or not). A nested list deeper than the example
    reuses the enclosing container's shape: ``(4, (6, (2, 4)))`` describes any nesting depth.
    """
    if not shape:
        return None
    is_container = isinstance(item, (list, dict))
    if len(shape) == length and isinstance(shape[index], (list, tuple, dict)) == is_container:
        return shape[index]
    for candidate in shape:
        if isinstance(candidate, (list, tuple, dict)) == is_container:
            return candidate
    return shape if is_container else shape[0]
