"""Prompt templates the policies send, and the inverse: which kind of request a message is.

``request_purpose`` lives here, beside the templates, so the simulator (which must answer
each request kind as a model would) can never drift from what the policies actually send.
A real model just reads the text.
"""

from __future__ import annotations

import re

GENERATE_SYSTEM = (
    "You are an expert Python programmer. Complete the task with a single, self-contained "
    "Python program in one ```python code block. Keep the given function name and signature."
)
PLAN_SYSTEM = (
    "You are a senior software engineer acting as a planner. A previous attempt at the task "
    "failed its tests. Do not write the final code. Decompose the task into a numbered plan of "
    "small helper functions and steps that a junior programmer can implement."
)
IMPLEMENT_SYSTEM = (
    "You are an expert Python programmer. Implement the task by following the given plan. "
    "Answer with a single, self-contained Python program in one ```python code block."
)
TESTS_SYSTEM = (
    "You are a meticulous tester. Write assert statements that check the function against its "
    "specification. Answer with one ```python code block of asserts only."
)

_PROBLEM_BLOCK = "### Task\n```python\n{prompt}\n```\n"
_STDIO_NOTE = "Read from standard input and write to standard output.\n"


def problem_block(prompt: str, entry_point: str) -> str:
    note = "" if entry_point else _STDIO_NOTE
    return _PROBLEM_BLOCK.format(prompt=prompt.rstrip()) + note


def generate_messages(prompt: str, entry_point: str) -> tuple[tuple[str, str], ...]:
    return (("system", GENERATE_SYSTEM), ("user", problem_block(prompt, entry_point)))


def plan_messages(
    prompt: str, entry_point: str, failed_program: str, failure: str
) -> tuple[tuple[str, str], ...]:
    user = (
        problem_block(prompt, entry_point)
        + "### Failed attempt\n```python\n"
        + failed_program.rstrip()
        + "\n```\n### Test feedback\n"
        + (failure.strip() or "(no detail)")
        + "\n### Write the plan\n"
    )
    return (("system", PLAN_SYSTEM), ("user", user))


def implement_messages(prompt: str, entry_point: str, plan: str) -> tuple[tuple[str, str], ...]:
    user = problem_block(prompt, entry_point) + "### Plan\n" + plan.strip() + "\n"
    return (("system", IMPLEMENT_SYSTEM), ("user", user))


_PURPOSE_BY_SYSTEM = {
    GENERATE_SYSTEM: "generate",
    PLAN_SYSTEM: "plan",
    IMPLEMENT_SYSTEM: "implement",
    TESTS_SYSTEM: "tests",
}


def request_purpose(messages: tuple[tuple[str, str], ...] | list) -> str:
    """'generate' | 'plan' | 'implement' | 'tests'; 'generate' for unknown system prompts."""
    for role, content in messages:
        if role == "system":
            return _PURPOSE_BY_SYSTEM.get(content, "generate")
    return "generate"


_TASK_RE = re.compile(r"### Task\n```python\n(.*?)\n```\n", re.DOTALL)


def task_prompt_of(messages) -> str | None:
    """The problem prompt embedded in a request, as ``problem_block`` wrote it."""
    for role, content in messages:
        if role == "user":
            match = _TASK_RE.search(content)
            if match:
                return match.group(1)
    return None


_CODE_RE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)


def extract_code(text: str) -> str:
    """The last fenced code block of a model answer, or the whole answer if none."""
    blocks = _CODE_RE.findall(text)
    if blocks:
        return max(blocks, key=len) if len(blocks) > 1 and not blocks[-1].strip() else blocks[-1]
    return text
