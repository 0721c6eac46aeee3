"""Inputs the simulated test writer uses: the prompt's examples, or inputs it invents.

A model asked for tests reads the examples off the prompt (HumanEval's docstring, which the
benchmark loader parses into the problem's public ``CallTests``: the same examples, so nothing
hidden) and, where the prompt shows none, guesses inputs from the signature. The guess follows
an argument's annotation, else its name (``s``/``text`` a string, ``arr``/``lst`` a list, ``n`` a
number); a wrong guess can make a correct program raise, as a real model's invented input can.
"""

from __future__ import annotations

import ast

from tasks.records import Problem

_TEXT_NAMES = ("s", "string", "text", "word", "name", "operator", "file_name", "sentence", "txt")
_LIST_NAMES = ("arr", "lst", "list", "xs", "nums", "numbers", "grades", "operand", "l", "values", "array")
_GRID_NAMES = ("grid", "matrix")

_BY_ANNOTATION = {
    "int": [3, 10, 0],
    "float": [2.5, 0.5, 4.0],
    "str": ["abc", "Hello World", ""],
    "bool": [True, False, True],
    "list": [[1, 2, 3], [5, 3, 8, 1], []],
    "tuple": [(1, 2), (3, 4), ()],
    "dict": [{"a": 1}, {"b": 2, "c": 3}, {}],
}
_INVENTED_CALLS = 3


def public_example_calls(problem: Problem) -> list[tuple[str, str]]:
    """(call, assert line) per public example call with an expected value; [] if none."""
    public = problem.public_tests
    if getattr(public, "kind", "") != "call" or not public.expected or not problem.entry_point:
        return []
    found = []
    for args, expected in zip(public.inputs, public.expected):
        call = f"{problem.entry_point}({', '.join(repr(arg) for arg in args)})"
        if public.comparison != "equal":
            found.append((call, ""))
        elif public.atol or isinstance(expected, float):
            found.append((call, f"assert abs({call} - {expected!r}) <= {max(public.atol, 1e-6)!r}"))
        else:
            found.append((call, f"assert {call} == {expected!r}"))
    return found


def _annotation_kind(annotation: ast.expr | None) -> str | None:
    if annotation is None:
        return None
    text = ast.unparse(annotation).lower()
    for kind in ("list", "tuple", "dict", "float", "bool", "int", "str"):
        if text.startswith(kind) or text.startswith("typing." + kind):
            return kind
    return None


def _value(name: str, annotation: ast.expr | None, variant: int):
    kind = _annotation_kind(annotation)
    if kind is None:
        lowered = name.lower()
        if lowered in _GRID_NAMES:
            return [[[1, 0], [0, 1]], [[1, 1, 0], [0, 1, 1]], [[0]]][variant]
        kind = "str" if lowered in _TEXT_NAMES else "list" if lowered in _LIST_NAMES else "int"
    return _BY_ANNOTATION[kind][variant]


def invented_calls(problem: Problem) -> list[str]:
    """Calls of the entry point with inputs guessed from its signature ([] if it has none)."""
    try:
        tree = ast.parse(problem.reference_solution or problem.prompt)
    except SyntaxError:
        return []
    function = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == problem.entry_point), None
    )
    if function is None:
        return []
    calls = []
    for variant in range(_INVENTED_CALLS):
        args = [repr(_value(a.arg, a.annotation, variant)) for a in function.args.args]
        calls.append(f"{problem.entry_point}({', '.join(args)})")
    return list(dict.fromkeys(calls))
