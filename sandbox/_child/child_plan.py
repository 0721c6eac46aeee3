"""Which candidate calls a judged test will make, found before it runs (parent side only).

A check function (or an assert list) made only of straight-line statements such as
``assert candidate(<literals>) == <expr>`` makes a sequence of calls the judge can predict: it
sends their arguments to the candidate as one batch and reads the answers in order, instead of
one round trip per call. A plan is only made when nothing in the test can make a request of
the candidate other than those calls, in that order, whatever the candidate answers:

- every statement is an ``assert`` (or a bare expression, ``pass``, a docstring), no loops,
  branches, assignments, ``try``, scopes (lambda, comprehensions) or walrus;
- each statement calls the candidate at most once, with literal arguments, and not where
  evaluation may skip it (``and``/``or``, ``x if c else y``, a chained comparison, the assert's
  message); before that call only names, attribute names and constants are evaluated, so
  nothing can raise and skip it;
- every other name the statements read is checked by the judge just before the batch goes
  out (``child_judge.batch_ready``): a builtin, a module, a builtin type or plain data, never
  the candidate's object or a Python function (which could reach one);
- no value a statement compares with appears first among a *later* call's arguments: the
  batch shows the candidate every argument before its first answer, which must not hand it
  an answer earlier than round trips would (see ``_leaks``).

The candidate stops a batch after an answer that is not plain data (a handle, or a module: the
test may ask that object questions next); the judge then goes on with round trips. A call that does not match the
plan ends the judge (``BATCH_DIVERGED_EXIT``), never a verdict: an unknown outcome fails.
"""

from __future__ import annotations

import ast
import bisect
import pickle

MAX_BATCH_CALLS = 20_000
MAX_BATCH_BYTES = 8 * 1024 * 1024

_FORBIDDEN = (
    ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.NamedExpr,
    ast.Await, ast.Yield, ast.YieldFrom, ast.Starred,
)


class _NoPlan(Exception):
    pass


def plan_check(source: str) -> dict | None:
    """The plan for a check function's test code (``def check(candidate): ...``), or None."""
    try:
        tree = ast.parse(source)
        checks = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "check"]
        bound = [node for node in ast.walk(tree) if _binds(node, "check")]
        if len(checks) != 1 or len(bound) != 1:
            raise _NoPlan
        check = checks[0]
        params = check.args
        if check.decorator_list or params.posonlyargs or params.kwonlyargs or params.vararg or params.kwarg:
            raise _NoPlan
        if len(params.args) != 1 or params.defaults:
            raise _NoPlan
        target = params.args[0].arg
        return _plan([check.body], target, exclude=target)
    except (_NoPlan, SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def plan_asserts(sources: tuple[str, ...], entry_point: str) -> dict | None:
    """The plan for an assert list whose statements call ``entry_point``, or None."""
    try:
        return _plan([ast.parse(source).body for source in sources], entry_point, exclude=None)
    except (_NoPlan, SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _binds(node: ast.AST, name: str) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name == name
    if isinstance(node, ast.Name):
        return node.id == name and not isinstance(node.ctx, ast.Load)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return any((alias.asname or alias.name).partition(".")[0] == name for alias in node.names)
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return name in node.names
    return False


def _plan(bodies: list[list[ast.stmt]], target: str, exclude: str | None) -> dict | None:
    """``bodies``: one statement list per test (an assert list) or one in all (a check)."""
    names: set[str] = set()
    chains: set[tuple[str, ...]] = set()
    attributes: set[tuple[str, ...]] = set()  # every attribute chain read, for the judge to look at
    calls: list[list[bytes]] = []
    order: list[tuple[tuple, list]] = []  # (the call's arguments, expected constants before it)
    for body in bodies:
        test_calls: list[bytes] = []
        for statement in body:
            found = _statement(statement, target, names, chains, attributes)
            if found is not None:
                arguments, expected = found
                test_calls.append(pickle.dumps(arguments, protocol=pickle.HIGHEST_PROTOCOL))
                order.append((arguments, expected))
        calls.append(test_calls)
    count = sum(map(len, calls))
    if count < 2 or count > MAX_BATCH_CALLS or sum(map(len, (c for test in calls for c in test))) > MAX_BATCH_BYTES:
        return None  # one call gains nothing from a batch
    if _leaks(order):
        return None
    names.discard(exclude)
    return {
        "target": target, "calls": calls, "names": tuple(sorted(names)), "chains": tuple(sorted(chains)),
        "attributes": tuple(sorted(attributes)),
    }


def _statement(statement: ast.stmt, target: str, names: set, chains: set, attributes: set):
    """(the call's (args, kwargs), constants it is compared with) if it calls ``target``, else None."""
    if isinstance(statement, ast.Pass):
        return None
    if isinstance(statement, ast.Expr):
        expression, message = statement.value, None
    elif isinstance(statement, ast.Assert):
        expression, message = statement.test, statement.msg
    else:
        raise _NoPlan
    calls = []
    targets = 0
    for part in (expression, message):
        for node in ast.walk(part) if part is not None else ():
            if isinstance(node, _FORBIDDEN):
                raise _NoPlan
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == target:
                if part is message:
                    raise _NoPlan  # evaluated only when the assert fails
                calls.append(node)
            elif isinstance(node, ast.Attribute) and _chain(node) is not None:
                attributes.add(_chain(node))
            elif isinstance(node, ast.Name):
                if node.id == target:
                    targets += 1
                else:
                    names.add(node.id)
    if len(calls) != targets:
        raise _NoPlan  # the candidate is passed around, not called
    if not calls:
        return None
    if len(calls) > 1:
        raise _NoPlan
    call = calls[0]
    path = _path(expression, call)
    for ancestor, child in zip(path, path[1:]):
        if not isinstance(ancestor, _ANCESTORS) or (isinstance(ancestor, ast.Compare) and len(ancestor.ops) > 1):
            raise _NoPlan  # evaluation could skip the call
        for earlier in _in_order(ancestor):
            if earlier is child:
                break
            if not _inert(earlier, chains):
                raise _NoPlan  # it could raise before the call, and the call would not happen
    try:
        args = tuple(ast.literal_eval(arg) for arg in call.args)
        if any(keyword.arg is None for keyword in call.keywords):
            raise _NoPlan
        kwargs = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as error:
        raise _NoPlan from error
    constants = []
    for part in (expression, message):
        if part is not None:
            _constants(part, call, constants)
    return (args, kwargs), constants


_ANCESTORS = (ast.Call, ast.Compare, ast.BinOp, ast.UnaryOp, ast.Subscript, ast.Attribute, ast.Tuple, ast.List)


def _path(root: ast.AST, node: ast.AST) -> list[ast.AST]:
    """The nodes from ``root`` down to ``node``."""
    if root is node:
        return [node]
    for child in ast.iter_child_nodes(root):
        found = _path(child, node)
        if found:
            return [root, *found]
    return []


def _inert(node: ast.AST, chains: set) -> bool:
    """Evaluating it cannot raise once the judge has checked its names (and attribute chains)."""
    if isinstance(node, (ast.Name, ast.Constant)):
        return True
    if isinstance(node, ast.Attribute):
        chain = _chain(node)
        if chain is not None:
            chains.add(chain)
        return chain is not None
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_inert(item, chains) for item in node.elts)
    return False


def _constants(node: ast.AST, call: ast.Call, found: list) -> None:
    """The constants (and literal containers) of an expression, the call's arguments apart."""
    if node is call:
        return
    if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.UnaryOp, ast.BinOp)):
        try:
            found.append(ast.literal_eval(node))
            if isinstance(node, (ast.UnaryOp, ast.BinOp)):
                return  # -11 or 2+3j is the value; its operands are not
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
    if isinstance(node, ast.Constant):
        found.append(node.value)
    for child in ast.iter_child_nodes(node):
        _constants(child, call, found)


def _in_order(node: ast.AST):
    """The children of an expression node in the order Python evaluates them."""
    if isinstance(node, ast.Call):
        yield node.func
        yield from node.args
        for keyword in node.keywords:
            yield keyword.value
        return
    if isinstance(node, ast.Compare):
        yield node.left
        yield from node.comparators
        return
    yield from (child for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr))


def _chain(node: ast.Attribute) -> tuple[str, ...] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return (node.id, *reversed(parts))


def _leaks(order: list[tuple[tuple, list]]) -> bool:
    """Whether the batch would show a candidate a value it is checked against, earlier than now.

    Answering call ``i`` one round trip at a time, the candidate has seen the arguments of
    calls ``0..i``; in a batch it has seen them all. A value statement ``i`` compares with
    that first appears (equal, same types, as an argument or inside one; or, a string, within
    a string argument) in a later call's arguments would reach it early: no batch then.
    Small values too: ``f(3) == 9`` then ``f(9) == 3`` is passed by answering each call with
    another's argument. "Equal" is loose on purpose, as a forger's conversions are: numbers by
    value (``9`` is ``9.0``), lists and tuples alike, and every part of a compared value
    (``f(1) == [4, 5]`` leaks when a later call receives ``4``). ``True``, ``False`` and ``None``
    carry one bit a forger can guess anyway, and are not counted.
    """
    first: dict = {}  # a value's key -> the first call whose arguments hold it
    texts = []
    for index, (arguments, _expected) in enumerate(order):
        strings = []
        for part in _parts(arguments):
            first.setdefault(_key(part), index)
            if type(part) is str:
                strings.append(part)
        texts.append("\0".join(strings))
    joined = "\1".join(texts)
    starts = []  # where each call's text begins in ``joined``
    offset = 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + 1
    for index, (_arguments, expected) in enumerate(order):
        for value in (part for whole in expected for part in _parts(whole)):
            if value is None or type(value) is bool:
                continue
            if first.get(_key(value), -1) > index:
                return True
            if type(value) is str:
                found = joined.find(value)
                if found >= 0 and bisect.bisect_right(starts, found) - 1 > index:
                    return True
    return False


def _key(value) -> tuple:
    """Equal values of the same types give the same key (sets and dicts in any order)."""
    kind = type(value)
    if kind in (int, float):
        return ("number", repr(float(value)) if abs(value) < 2**53 else repr(value))
    if kind in (set, frozenset):
        return (kind.__name__, tuple(sorted(repr(_key(item)) for item in value)))
    if kind is dict:
        return ("dict", tuple(sorted(repr((_key(k), _key(v))) for k, v in value.items())))
    if kind in (list, tuple):
        return ("sequence", tuple(_key(item) for item in value))
    return (kind.__name__, repr(value))


def _parts(value, depth: int = 0) -> list:
    """A literal and everything inside it."""
    parts = [value]
    if depth < 20:
        if type(value) in (tuple, list, set, frozenset):
            for item in value:
                parts += _parts(item, depth + 1)
        elif type(value) is dict:
            for key, item in value.items():
                parts += _parts(key, depth + 1) + _parts(item, depth + 1)
    return parts
