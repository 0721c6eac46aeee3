"""Turn the worked examples in a problem's docstring into public call tests.

HumanEval-style prompts show examples in several hand-written styles. This module recognises:

- doctest: ``>>> f(x)`` followed by the expected value on the next line (an empty line means
  ``None``, as in doctest); ``>>> f(x) == y`` on one line;
- inline: ``f(x) == y``, ``f(x) ==> y``, ``f(x) => y``, ``f(x) ➞ y``, ``f(x) -> y``,
  ``f(x) returns y``, ``f(x) should return y``, ``f(x) = y``;
- named: ``Input: a = 1, b = 2`` then ``Output: y``, and ``For a = 1, b = 2, the result/output
  should be y`` (argument names are mapped to positions with the function's signature).

Every argument and expected value must be a Python literal (``ast.literal_eval``); anything
else is skipped, never guessed. The result is a list of ``Example(args, expected)`` in the
order they appear, without duplicates. The caller decides what to do with zero examples.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Example:
    args: tuple[Any, ...]
    expected: Any
    source: str  # the docstring text it was parsed from, for messages


_SEPARATORS = (
    "==>",
    "==",
    "=>",
    "➞",
    "->",
    "should return",
    "returns",
    "return",
    "=",
)
_NAMED_RESULT_RE = re.compile(
    r"^\s*(?:For|for|Input:|input:)\s*(?P<args>.+?),?\s+(?:the\s+)?(?:result|output)\s+should\s+be\s*:?\s*(?P<expected>.+)$"
)
_INPUT_RE = re.compile(r"^\s*Input\s*:\s*(?P<args>.+)$", re.IGNORECASE)
_OUTPUT_RE = re.compile(r"^\s*Output\s*:\s*(?P<expected>.+)$", re.IGNORECASE)


def docstring_examples(prompt: str, entry_point: str) -> list[Example]:
    """Examples of ``entry_point`` found in ``prompt`` (the part after its ``def`` line)."""
    definition = re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", prompt, re.MULTILINE)
    if definition is None:
        return []
    body = prompt[definition.end() :]
    parameter_names = _parameter_names(prompt, entry_point)
    lines = body.splitlines()
    found: list[Example] = []
    for index, line in enumerate(lines):
        example = _parse_line(lines, index, entry_point, parameter_names)
        if example is not None and all(
            (e.args, repr(e.expected)) != (example.args, repr(example.expected)) for e in found
        ):
            found.append(example)
    return found


def _parse_line(
    lines: list[str], index: int, entry_point: str, parameter_names: list[str]
) -> Example | None:
    line = lines[index]
    stripped = line.strip()
    if stripped.startswith(">>>"):
        return _parse_doctest(lines, index, entry_point)
    named = _NAMED_RESULT_RE.match(line)
    if named:
        args = _named_args(named.group("args"), parameter_names)
        expected = _literal_prefix(named.group("expected"))
        if args is not None and expected is not _NO_VALUE:
            return Example(args, expected, stripped)
        return None
    input_match = _INPUT_RE.match(line)
    if input_match:
        following = [l for l in lines[index + 1 : index + 4] if l.strip()]
        output_match = _OUTPUT_RE.match(following[0]) if following else None
        if output_match:
            args = _named_args(input_match.group("args"), parameter_names)
            if args is None:
                args = _positional_args(input_match.group("args"))
            expected = _literal_prefix(output_match.group("expected"))
            if args is not None and expected is not _NO_VALUE:
                return Example(args, expected, stripped + " / " + following[0].strip())
        return None
    return _parse_inline(stripped, entry_point)


def _parse_doctest(lines: list[str], index: int, entry_point: str) -> Example | None:
    source = lines[index].strip()[3:].strip()
    call_text, rest = _leading_call(source, entry_point)
    if call_text is None:
        return None
    args = _call_args(call_text)
    if args is None:
        return None
    rest = _strip_comment(rest)
    if rest:
        return _expected_after_separator(args, rest, source, only=("==",))
    following = lines[index + 1] if index + 1 < len(lines) else ""
    if not following.strip() or following.strip().startswith(">>>") or following.strip() == '"""':
        return Example(args, None, source)
    expected = _literal_prefix(following.strip(), whole=True)
    if expected is _NO_VALUE:
        return None
    return Example(args, expected, source + " -> " + following.strip())


def _parse_inline(stripped: str, entry_point: str) -> Example | None:
    position = stripped.find(entry_point + "(")
    if position < 0 or (position > 0 and (stripped[position - 1].isalnum() or stripped[position - 1] in "_.")):
        return None
    call_text, rest = _leading_call(stripped[position:], entry_point)
    if call_text is None:
        return None
    args = _call_args(call_text)
    if args is None:
        return None
    return _expected_after_separator(args, rest, stripped)


def _expected_after_separator(
    args: tuple[Any, ...], rest: str, source: str, only: tuple[str, ...] = _SEPARATORS
) -> Example | None:
    rest = rest.strip().lstrip(":").strip()
    for separator in only:
        if rest.startswith(separator):
            expected = _literal_prefix(rest[len(separator) :].strip())
            if expected is _NO_VALUE:
                return None
            return Example(args, expected, source)
    return None


_NO_VALUE = object()
_CONTINUATIONS = set("+-*/%=<>&|^(\"'")


def _literal_prefix(text: str, whole: bool = False) -> Any:
    """The longest prefix of ``text`` that is a Python literal (trailing prose is dropped)."""
    text = _strip_comment(text).strip()
    candidates = [text] if whole else [text[:end] for end in range(len(text), 0, -1)]
    for candidate in candidates:
        tail = text[len(candidate) :]
        if tail.strip()[:1] in _CONTINUATIONS or (tail[:1] and tail[:1] not in " \t.,;:"):
            continue  # "19 - 5 - 6 = 8" or '""abc"': the literal is part of something longer
        candidate = candidate.strip().rstrip(".,;")
        if not candidate:
            continue
        try:
            return ast.literal_eval(candidate)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return _NO_VALUE


def _strip_comment(text: str) -> str:
    """Drop a trailing ``# comment`` that is outside any string literal."""
    quote = ""
    for position, char in enumerate(text):
        if quote:
            if char == quote and text[position - 1] != "\\":
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            return text[:position]
    return text


def _leading_call(text: str, entry_point: str) -> tuple[str | None, str]:
    """Split ``f(...)rest`` into the balanced call text and the rest."""
    if not text.startswith(entry_point + "("):
        return None, text
    depth = 0
    quote = ""
    for position in range(len(entry_point), len(text)):
        char = text[position]
        if quote:
            if char == quote and text[position - 1] != "\\":
                quote = ""
            continue
        if char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return text[: position + 1], text[position + 1 :]
    return None, text


def _call_args(call_text: str) -> tuple[Any, ...] | None:
    try:
        node = ast.parse(call_text, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call) or node.keywords:
        return None
    try:
        return tuple(ast.literal_eval(argument) for argument in node.args)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _named_args(text: str, parameter_names: list[str]) -> tuple[Any, ...] | None:
    """``a = 1, b = [2]`` -> positional arguments in signature order."""
    text = text.strip().rstrip(",")
    try:
        node = ast.parse(f"_({text})", mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call) or node.args or not node.keywords:
        return None
    try:
        values = {keyword.arg: ast.literal_eval(keyword.value) for keyword in node.keywords}
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if sorted(values) != sorted(parameter_names):
        return None
    return tuple(values[name] for name in parameter_names)


def _positional_args(text: str) -> tuple[Any, ...] | None:
    value = _literal_prefix(text, whole=True)
    if value is _NO_VALUE:
        return None
    return (value,)


def _parameter_names(prompt: str, entry_point: str) -> list[str]:
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            return [argument.arg for argument in node.args.args]
    return []
