"""Docstring examples -> public call tests: each recognised style, and what is refused."""

from __future__ import annotations

import gzip
import json

from tasks.benchmarks.examples import docstring_examples


def _prompt(doc: str, signature: str = "def f(a, b):") -> str:
    return f'{signature}\n    """{doc}\n    """\n'


def test_doctest_style_with_multiline_expected_and_empty_meaning_none():
    prompt = _prompt("\n    >>> f(1, [2, 3])\n    [3, 4]\n    >>> f(0, [])\n\n    >>> f(2, 'x')\n    'y'")
    examples = docstring_examples(prompt, "f")
    assert [(e.args, e.expected) for e in examples] == [((1, [2, 3]), [3, 4]), ((0, []), None), ((2, "x"), "y")]


def test_inline_separators_and_trailing_prose():
    prompt = _prompt(
        "\n    f(1, 2) == 3\n    f(2, 2) ==> 4\n    f(3, 2) ➞ 5\n    f(4, 2) should return 6.\n"
        "    f(5, 2) -> 7 # a comment"
    )
    assert [(e.args, e.expected) for e in docstring_examples(prompt, "f")] == [
        ((1, 2), 3), ((2, 2), 4), ((3, 2), 5), ((4, 2), 6), ((5, 2), 7)
    ]


def test_named_argument_styles_follow_signature_order():
    prompt = _prompt(
        "\n    Input: b = [1], a = 2\n    Output: 3\n"
        '    For a = "x", b = "y", the result should be (\'xy\', False)'
    )
    assert [(e.args, e.expected) for e in docstring_examples(prompt, "f")] == [
        ((2, [1]), 3), (("x", "y"), ("xy", False))
    ]


def test_non_literal_or_arithmetic_examples_are_skipped_not_guessed():
    prompt = _prompt(
        "\n    f(x, 2) == 3\n    f(1, 2) -> 19 - 5 - 6 = 8\n    g(1, 2) == 3\n    round(f(1, 2), 2) == 1"
        "\n    f(1, 2) ==\"\"abc\""
    )
    assert docstring_examples(prompt, "f") == []


def test_only_the_entry_points_own_examples_count():
    prompt = (
        'def helper(x):\n    """\n    >>> helper(1)\n    2\n    """\n\n'
        'def f(a):\n    """\n    >>> f(1)\n    True\n    """\n'
    )
    assert [(e.args, e.expected) for e in docstring_examples(prompt, "f")] == [((1,), True)]


def test_humaneval_coverage(shared_datasets):
    """How many HumanEval prompts yield examples (reported in docs/benchmarks.md)."""
    with gzip.open(shared_datasets / "humaneval" / "HumanEval.jsonl.gz", "rt") as handle:
        rows = [json.loads(line) for line in handle]
    parsed = {r["task_id"]: docstring_examples(r["prompt"], r["entry_point"]) for r in rows}
    with_examples = [task for task, examples in parsed.items() if examples]
    assert len(with_examples) == 148
    assert sum(len(examples) for examples in parsed.values()) == 423
    assert "HumanEval/32" not in with_examples  # round(find_zero(...), 2): not a plain call
