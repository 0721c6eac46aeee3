"""Program text operations the policies share: imports of a prompt, a function's source, a
helper stub, and composing a parent with its children. Pure functions over source text."""

from __future__ import annotations

import ast
import re

_IMPORT_LINE = re.compile(r"^(import \S.*|from \S+ import .+)$", re.MULTILINE)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def parse_or_none(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def prompt_imports(prompt: str) -> str:
    """The import lines of a problem prompt (HumanEval's ``from typing import List``...)."""
    return "".join(line + "\n" for line in _IMPORT_LINE.findall(prompt))


def with_imports(imports: str, code: str) -> str:
    missing = "".join(line + "\n" for line in imports.splitlines() if line and line not in code)
    return missing + code if missing else code


def _find(module: ast.Module, name: str):
    return next(
        (s for s in module.body if isinstance(s, _DEFINITIONS) and s.name == name), None
    )


def function_source(code: str, name: str) -> str | None:
    """The source text of top-level function ``name`` in ``code`` (decorators included)."""
    module = parse_or_none(code)
    found = _find(module, name) if module else None
    if found is None:
        return None
    lines = code.splitlines()
    first = min([found.lineno] + [d.lineno for d in found.decorator_list])
    return "\n".join(lines[first - 1 : found.end_lineno]) + "\n"


def docstring_of(code: str, name: str) -> str:
    module = parse_or_none(code)
    found = _find(module, name) if module else None
    return (ast.get_docstring(found) or "") if found else ""


def stub_of(code: str, name: str) -> str | None:
    """``name``'s signature and docstring with the body ``raise NotImplementedError()``."""
    module = parse_or_none(code)
    found = _find(module, name) if module else None
    if found is None:
        return None
    lines = code.splitlines()
    header_end = found.body[0].lineno - 1  # lines before the first body statement
    header = "\n".join(lines[found.lineno - 1 : header_end]) if header_end >= found.lineno else ""
    if not header.rstrip().endswith(":"):
        header = ast.unparse(
            ast.FunctionDef(found.name, found.args, [ast.Pass()], [], found.returns, type_params=[])
        ).rsplit("\n", 1)[0]
    indent = " " * (found.body[0].col_offset or 4)
    doc = ast.get_docstring(found, clean=False)
    doc_text = f'{indent}"""{doc}"""\n' if doc is not None else ""
    return f"{header}\n{doc_text}{indent}raise NotImplementedError()\n"


def without_functions(code: str, names) -> str:
    """``code`` with the top-level functions ``names`` removed."""
    module = parse_or_none(code)
    if module is None:
        return code
    lines = code.splitlines()
    drop: set[int] = set()
    for statement in module.body:
        if isinstance(statement, _DEFINITIONS) and statement.name in names:
            first = min([statement.lineno] + [d.lineno for d in statement.decorator_list])
            drop.update(range(first - 1, statement.end_lineno))
    kept = [line for index, line in enumerate(lines) if index not in drop]
    return re.sub(r"\n{3,}", "\n\n\n", "\n".join(kept)).strip("\n") + "\n"


def defined_functions(code: str) -> tuple[str, ...]:
    module = parse_or_none(code)
    return tuple(s.name for s in module.body if isinstance(s, _DEFINITIONS)) if module else ()


def compose(parent_code: str, children_code: list[str], keep: tuple[str, ...] = ()) -> str:
    """Each child's implementation, then the parent's code (so a stdin/stdout script finds its
    helpers defined). The functions in ``keep`` (the parent's own) come from the parent only;
    any other function defined twice keeps its last definition among the children, and the
    parent's version of a function a child implements (its stub) is dropped."""
    children = [without_functions(c, keep) if keep else c for c in children_code]
    implemented = {name for child in children for name in defined_functions(child)}
    result = []
    for index, part in enumerate(children):
        later = {name for other in children[index + 1 :] for name in defined_functions(other)}
        overridden = set(defined_functions(part)) & later
        result.append(without_functions(part, overridden) if overridden else part)
    stale = (set(defined_functions(parent_code)) & implemented) - set(keep)
    result.append(without_functions(parent_code, stale) if stale else parent_code)
    return "\n\n\n".join(part.strip("\n") for part in result if part.strip()) + "\n"
