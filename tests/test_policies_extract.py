"""Prompt templates as files, and reading code back out of answers as real models write them."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest

from tasks import prompts
from tasks.prompts import PromptError, read_code, function_signature

SIGNATURE = function_signature('def f(xs: list, k: int = 2) -> int:\n    """Doc."""\n', "f")


def test_several_blocks_are_joined_and_a_repeated_stub_is_replaced_by_the_implementation():
    text = (
        "First the stub again:\n```python\ndef f(xs: list, k: int = 2) -> int:\n"
        "    raise NotImplementedError()\n```\nA helper:\n```py\ndef helper(x):\n"
        "    return x * 2\n```\nAnd the function:\n```python\ndef f(xs: list, k: int = 2) -> int:\n"
        "    # keep the comment\n    return sum(helper(x) for x in xs) + k\n```\nDone."
    )
    found = read_code(text, "f", SIGNATURE)
    assert found.ok and found.fenced
    assert found.functions == ("helper", "f") and found.stubs == ()
    assert "# keep the comment" in found.code and "NotImplementedError" not in found.code
    namespace: dict = {}
    exec(found.code, namespace)
    assert namespace["f"]([1, 2]) == 8


def test_an_answer_without_fence_is_read_from_its_first_code_line_prose_dropped():
    text = "Sure. Here is the code:\n\ndef f(xs, k=2):\n    return len(xs) + k\n\nIt is O(1)."
    found = read_code(text, "f", SIGNATURE)
    assert found.ok and not found.fenced
    assert found.code.strip() == "def f(xs, k=2):\n    return len(xs) + k"


def test_non_python_blocks_and_unparseable_blocks_are_skipped():
    text = "```bash\npip install x\n```\n```python\ndef f(:\n```\n```python\ndef f(xs, k=2):\n    return 1\n```"
    found = read_code(text, "f", SIGNATURE)
    assert found.ok and found.code.strip() == "def f(xs, k=2):\n    return 1"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no code here at all.", "no_code"),
        ("```python\ndef g(xs, k=2):\n    return 1\n```", "missing_target"),
        ("```python\ndef f(xs):\n    return 1\n```", "signature_mismatch"),
        ("```python\ndef f(xs, k=3):\n    return 1\n```", "signature_mismatch"),
        ("```python\ndef f(xs, k=2):\n    '''Doc.'''\n    raise NotImplementedError\n```", "stub"),
        ("```python\ndef f(xs, k=2):\n    pass\n```", "stub"),
        ("```python\ndef f(xs, k=2):\n    ...\n```", "stub"),
    ],
)
def test_unusable_answers_say_why(text, problem):
    found = read_code(text, "f", SIGNATURE)
    assert found.problem == problem and not found.ok


def test_annotations_may_differ_but_names_kinds_and_defaults_may_not():
    assert read_code("```python\ndef f(xs, k=2):\n    return 1\n```", "f", SIGNATURE).ok


def test_a_decomposition_names_its_helper_stubs():
    text = (
        "```python\ndef f(xs, k=2):\n    return total(evens(xs)) + k\n\n\ndef evens(xs):\n"
        '    """The even items."""\n    raise NotImplementedError()\n\n\ndef total(xs):\n'
        '    """Their sum."""\n    raise NotImplementedError()\n```'
    )
    found = read_code(text, "f", SIGNATURE)
    assert found.ok and found.functions == ("f", "evens", "total")
    assert found.stubs == ("evens", "total")


def test_a_whole_program_needs_only_to_parse():
    assert read_code("```python\nprint(sum(map(int, input().split())))\n```").ok
    assert read_code("```python\nprint(\n```").problem == "no_code"


def test_templates_are_package_files_with_their_file_sha256():
    names = prompts.template_names()
    assert {"generate", "generate_program", "generate_helper", "write_tests", "write_calls",
            "decompose"} <= set(names)  # fmt: skip
    for name in names:
        raw = resources.files("tasks.prompts").joinpath("templates", f"{name}.txt").read_bytes()
        template = prompts.template(name)
        assert template.sha256 == hashlib.sha256(raw).hexdigest()
        assert template.messages[0][0] == "system" and template.messages[-1][0] == "user"


def test_render_fills_every_slot_and_refuses_missing_or_extra_values():
    messages, sha256 = prompts.render("generate", code="def f(x):\n    '{{x}}'", target="f")
    assert "{{" not in messages[-1][1].replace("'{{x}}'", "")  # a value is never re-expanded
    assert "`f`" in messages[-1][1] and sha256 == prompts.template("generate").sha256
    with pytest.raises(PromptError, match="missing"):
        prompts.render("generate", code="x")
    with pytest.raises(PromptError, match="unexpected"):
        prompts.render("generate", code="x", target="f", extra="y")


def test_every_template_is_recognised_by_its_system_message():
    for name in prompts.template_names():
        template = prompts.template(name)
        values = {slot: "v" for slot in template.slots}
        assert prompts.template_of_messages(template.render(**values)) == name
