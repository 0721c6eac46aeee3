"""Reading code back out of a model's answer: ``read_code``, the one function that does it.

What real answers look like, and what this does with each:
- several fenced blocks (a helper in one, the function in another; the stub repeated before the
  answer): every block tagged python/py/python3 or untagged that parses is kept, in order, and a
  function defined twice keeps its last definition;
- no fence at all: the whole answer if it parses, else the longest run of lines from the first
  ``def``/``import``/``class`` line that parses (prose before and after dropped);
- prose around the code: ignored (it is outside the fences);
- a changed signature: found and reported (``signature_matches``), not silently accepted;
- stubs (``raise NotImplementedError``, ``pass``, ``...`` bodies): reported per function, so a
  sample that only repeats the stub does not count as an implementation, and a planner's
  decomposition names its new helpers.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_PYTHON_TAGS = {"", "python", "py", "python3"}
_CODE_START = re.compile(r"^(def |async def |class |import |from \S+ import |@)")


@dataclass(frozen=True)
class Extracted:
    code: str  # the parseable code found ("" if none), functions deduplicated
    fenced: bool  # the code came from fenced blocks
    functions: tuple[str, ...]  # top-level function names, in order
    stubs: tuple[str, ...]  # the top-level functions whose body is only a stub
    target_found: bool
    signature_matches: bool  # the target's arguments are those of the signature given
    problem: str = ""  # "" when usable; else no_code | missing_target | signature_mismatch | stub

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def implemented(self) -> bool:
        return self.target_found and not self.problem == "stub"


def _blocks(text: str) -> list[str]:
    return [body for tag, body in _FENCE.findall(text) if tag.lower() in _PYTHON_TAGS]


def _parses(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def _unfenced(text: str) -> str:
    if _parses(text) is not None and any(_CODE_START.match(l) for l in text.splitlines()):
        return text
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _CODE_START.match(line)]
    if not starts:
        return ""
    first = starts[0]
    for end in range(len(lines), first, -1):
        candidate = "\n".join(lines[first:end])
        if _parses(candidate) is not None:
            return candidate + "\n"
    return ""


def _is_stub_body(body: list[ast.stmt]) -> bool:
    statements = body[1:] if body and _is_docstring(body[0]) else body
    for statement in statements:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # `...` or a stray string
        if isinstance(statement, ast.Raise) and _names_not_implemented(statement.exc):
            continue
        return False
    return True


def _names_not_implemented(node: ast.AST | None) -> bool:
    if isinstance(node, ast.Call):
        node = node.func
    return isinstance(node, ast.Name) and node.id == "NotImplementedError"


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _statement_source(lines: list[str], statement: ast.stmt) -> str:
    first = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
    return "\n".join(lines[first - 1 : statement.end_lineno])


def _merge(blocks: list[tuple[str, ast.Module]]) -> tuple[str, list[ast.stmt]]:
    """All statements of the blocks in order, as their own source text (comments inside kept);
    a function or class defined again replaces the earlier definition (models often repeat the
    stub before the implementation)."""
    if len(blocks) == 1:
        names = [s.name for s in blocks[0][1].body if isinstance(s, _DEFINITIONS)]
        if len(names) == len(set(names)):  # nothing to merge: the block exactly as written
            return blocks[0][0].strip("\n") + "\n", list(blocks[0][1].body)
    merged: list[tuple[ast.stmt, str]] = []
    for source, module in blocks:
        lines = source.splitlines()
        for statement in module.body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                merged = [
                    (s, text)
                    for s, text in merged
                    if not (isinstance(s, _DEFINITIONS) and s.name == statement.name)
                ]
            merged.append((statement, _statement_source(lines, statement)))
    parts = []
    for index, (statement, text) in enumerate(merged):
        separator = "\n\n" if isinstance(statement, _DEFINITIONS) and index else "\n"
        parts.append((separator if parts else "") + text)
    return "".join(parts).strip("\n") + "\n", [s for s, _ in merged]


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def function_signature(code: str, name: str) -> tuple | None:
    """A comparable shape of ``name``'s arguments in ``code``: kinds, names and defaults."""
    module = _parses(code)
    if module is None:
        return None
    for statement in ast.walk(module):
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) and statement.name == name:
            return _argument_shape(statement.args)
    return None


def _argument_shape(args: ast.arguments) -> tuple:
    return (
        tuple(a.arg for a in args.posonlyargs),
        tuple(a.arg for a in args.args),
        args.vararg.arg if args.vararg else None,
        tuple(a.arg for a in args.kwonlyargs),
        args.kwarg.arg if args.kwarg else None,
        tuple(ast.dump(d) for d in args.defaults),
        tuple(ast.dump(d) if d is not None else None for d in args.kw_defaults),
    )


def read_code(text: str, target: str = "", signature: tuple | None = None) -> Extracted:
    """The code in a model answer, and whether it defines ``target`` with ``signature``.

    ``signature`` is ``function_signature(reference_code, target)``; ``None`` skips the check.
    ``target=""`` (a whole program, e.g. stdin/stdout) only asks for parseable code.
    """
    blocks = [(block, module) for block in _blocks(text) if (module := _parses(block)) is not None]
    fenced = bool(blocks)
    if not blocks:
        unfenced = _unfenced(text)
        module = _parses(unfenced) if unfenced else None
        blocks = [(unfenced, module)] if module is not None and module.body else []
    if not blocks:
        return Extracted("", False, (), (), False, False, "no_code")
    code, statements = _merge(blocks)
    functions = [s for s in statements if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    names = tuple(f.name for f in functions)
    stubs = tuple(f.name for f in functions if _is_stub_body(f.body))
    if not target:
        return Extracted(code, fenced, names, stubs, True, True)
    found = next((f for f in functions if f.name == target), None)
    if found is None:
        return Extracted(code, fenced, names, stubs, False, False, "missing_target")
    matches = signature is None or _argument_shape(found.args) == signature
    problem = "" if matches else "signature_mismatch"
    if not problem and target in stubs:
        problem = "stub"
    return Extracted(code, fenced, names, stubs, True, matches, problem)


def extract_code(text: str) -> str:
    """Just the code of an answer (the whole text if none can be read), for callers that need
    no target check (benchmarks, the simulator's own tests)."""
    return read_code(text).code or text
