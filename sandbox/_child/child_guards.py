from __future__ import annotations

import ctypes
import marshal
import sys

from child_codec import _COMPARISON_DUNDERS, _solution_class

# --------------------------------------------------------------------------- reward-hack guard
class RewardHack(Exception):
    """Raised by the test-side guards; never catchable by the candidate's own code paths."""


_TRUTH_DUNDERS = ("__bool__", "__len__")



def _suspicious(value, dunders: tuple[str, ...], depth: int = 0) -> type | None:
    """A solution-defined class on ``value`` (or inside it) that overrides one of ``dunders``."""
    if depth > 50:
        return None
    t = type(value)
    if t in (int, float, str, bool, bytes, type(None), complex):
        return None
    if t in (list, tuple, set, frozenset):
        for item in value:
            found = _suspicious(item, dunders, depth + 1)
            if found is not None:
                return found
        return None
    if t is dict:
        for key, item in value.items():
            found = _suspicious(key, dunders, depth + 1) or _suspicious(item, dunders, depth + 1)
            if found is not None:
                return found
        return None
    for cls in t.__mro__[:-1]:
        if _solution_class(cls) and any(name in cls.__dict__ for name in dunders):
            return cls
    return None


class _Guard:
    """Comparisons in test code go through here (the test code's AST is rewritten)."""

    def __init__(self) -> None:
        self.last: tuple[str, str] | None = None

    def compare(self, left, op: str, right):
        dunders = _COMPARISON_DUNDERS
        for value, other in ((left, right), (right, left)):
            cls = _suspicious(value, dunders)
            if cls is not None and type(other) is not cls:
                raise RewardHack(f"a returned {cls.__qualname__} (defined by the solution) overrides comparison")
        self.last = (left, right) if op in ("==", "!=") else None
        return _OPS[op](left, right)

    def truth(self, value):
        cls = _suspicious(value, _TRUTH_DUNDERS + _COMPARISON_DUNDERS)
        if cls is not None:
            raise RewardHack(f"a returned {cls.__qualname__} (defined by the solution) overrides truth or comparison")
        return value


_OPS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_OP_NAMES = {"Eq": "==", "NotEq": "!=", "Lt": "<", "LtE": "<=", "Gt": ">", "GtE": ">="}
GUARD_NAME = "__patflow_guard__"


def compile_test_code(source: str, filename: str):
    """Test code with every single comparison and assert routed through the guard."""
    import ast  # only the parent compiles test code; the fork server never imports ast

    def guard_call(method: str, args: list) -> ast.Call:
        return ast.Call(ast.Attribute(ast.Name(GUARD_NAME, ast.Load()), method, ast.Load()), args, [])

    class GuardRewriter(ast.NodeTransformer):
        def visit_Compare(self, node: ast.Compare):
            self.generic_visit(node)
            op = type(node.ops[0]).__name__
            if len(node.ops) != 1 or op not in _OP_NAMES:
                return node
            return ast.copy_location(guard_call("compare", [node.left, ast.Constant(_OP_NAMES[op]), node.comparators[0]]), node)

        def visit_Assert(self, node: ast.Assert):
            self.generic_visit(node)
            node.test = ast.copy_location(guard_call("truth", [node.test]), node.test)
            return node

    tree = GuardRewriter().visit(ast.parse(source, filename=filename))
    return compile(ast.fix_missing_locations(tree), filename, "exec")


def precompile_test_code(source: str, filename: str) -> bytes | str:
    """Parent side: the guarded code object, marshalled (same interpreter), or the error text."""
    try:
        return marshal.dumps(compile_test_code(source, filename))
    except (SyntaxError, ValueError) as error:
        return f"{type(error).__name__}: {error}"


def _test_code(item, filename: str):
    """A test's code object from a precompiled item (bytes), its source (str) or an error."""
    if isinstance(item, bytes):
        return marshal.loads(item)
    if isinstance(item, tuple) and item and item[0] == "error":
        return str(item[1])
    try:
        return compile_test_code(item, filename)
    except (SyntaxError, ValueError) as error:
        return f"{type(error).__name__}: {error}"


# --------------------------------------------------------------------------- tamper check
_WATCHED_MODULES = ("builtins", "math", "operator", "functools", "itertools", "collections", "re", "json")


class Snapshot:
    """What the watched modules held before the candidate ran.

    Taken once in the warm server (so children do not pay for copying). The per-test check
    first compares CPython's dict version tags (PEP 509; any change to a dict bumps it), and
    only on a change looks at which names differ.
    """

    def __init__(self) -> None:
        self.modules = {name: sys.modules[name] for name in _WATCHED_MODULES if name in sys.modules}
        self.saved = {name: dict(vars(module)) for name, module in self.modules.items()}
        # Views on each module dict's version tag, made once (module dicts never move).
        self.tags = {name: _version_view(vars(module)) for name, module in self.modules.items()}
        self.versions = {name: tag.value if tag is not None else None for name, tag in self.tags.items()}

    def tampered(self) -> str:
        modules = sys.modules
        for name, module in self.modules.items():
            if modules.get(name) is not module:
                return f"module {name} was replaced in sys.modules"
            tag = self.tags[name]
            version = tag.value if tag is not None else None
            if version is not None and version == self.versions[name]:
                continue
            found = _changed(name, vars(module), self.saved[name])
            if found:
                return found
            self.versions[name] = version
        return ""


_DICT_VERSION_OFFSET = 24  # PyObject_HEAD (16) + ma_used (8); CPython 3.6-3.11
_HAS_DICT_VERSIONS = sys.implementation.name == "cpython" and (3, 6) <= sys.version_info[:2] <= (3, 11)


def _version_view(mapping: dict):
    if not _HAS_DICT_VERSIONS:
        return None
    return ctypes.c_uint64.from_address(id(mapping) + _DICT_VERSION_OFFSET)


def _changed(module_name: str, current: dict, saved: dict) -> str:
    is_builtins = module_name == "builtins"
    for key, value in saved.items():
        if (key.startswith("_") and not is_builtins) or key == "_":
            continue
        if current.get(key, _MISSING) is not value:
            return f"{module_name}.{key} was replaced"
    if is_builtins:
        added = set(current) - set(saved) - {"_"}
        if added:
            return f"builtins.{sorted(added)[0]} was added"
    return ""


_WARM_SNAPSHOT: Snapshot | None = None


def _snapshot() -> Snapshot:
    return _WARM_SNAPSHOT if _WARM_SNAPSHOT is not None else Snapshot()


def _tampered(snapshot: Snapshot) -> str:
    """What the candidate replaced in builtins or the watched modules ("" if nothing)."""
    return snapshot.tampered()


_MISSING = object()


