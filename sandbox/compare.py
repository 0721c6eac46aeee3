"""The parent's comparisons for call and stdio tests (expected values never enter a child)."""

from __future__ import annotations

from typing import Any

from sandbox import codec
from sandbox.types import (
    FAILED,
    NO_RESULT,
    PASSED,
    CallTests,
    StdioTests,
    TestVerdict,
)
from sandbox.launch import (
    DETAIL_CHARS,
)
from sandbox.watch import (
    _MISSING_OUTPUT,
)


def _output_judge(tests, judged: dict[int, bool]):
    """(index, output) -> passes?, for outputs the parent judges while the child runs.

    Call outputs judged here are remembered in ``judged``, so the final comparison does not
    compare them again.
    """
    if isinstance(tests, CallTests) and tests.expected is not None:

        def passes(index: int, output: Any) -> bool:
            if output is _MISSING_OUTPUT:
                return False
            verdict = codec.compare(output, tests.expected[index], tests.inputs[index], tests.comparison, tests.atol)
            judged[index] = verdict
            return verdict

        return passes
    if isinstance(tests, StdioTests):
        return lambda index, output: type(output) is str and codec.stdout_matches(output, tests.cases[index][1])
    return None


def _compare_calls(
    tests: CallTests, verdicts: list[TestVerdict], outputs: dict[int, Any], judged: dict[int, bool]
) -> list[TestVerdict]:
    if tests.expected is None:
        return verdicts
    result = []
    for verdict in verdicts:
        if verdict.status != PASSED or judged.get(verdict.index) is True:
            pass
        elif verdict.index not in outputs:
            verdict = TestVerdict(verdict.index, NO_RESULT, "no output reported", verdict.duration_ms)
        else:
            got = outputs[verdict.index]
            expected = tests.expected[verdict.index]
            same = judged.get(verdict.index)
            if same is None:
                same = codec.compare(got, expected, tests.inputs[verdict.index], tests.comparison, tests.atol)
            if not same:
                shown = f"an output with BLAKE2b digest {got}" if isinstance(got, codec.Digest) else _short_repr(got)
                detail = _truncate(f"expected {_short_repr(expected)}, got {shown}")
                verdict = TestVerdict(verdict.index, FAILED, detail, verdict.duration_ms)
        result.append(verdict)
    return result


def _compare_stdio(tests: StdioTests, verdicts: list[TestVerdict], outputs: dict[int, Any]) -> list[TestVerdict]:
    result = []
    for verdict in verdicts:
        if verdict.status == PASSED:
            got = outputs.get(verdict.index)
            expected = tests.cases[verdict.index][1]
            if type(got) is not str:
                verdict = TestVerdict(verdict.index, NO_RESULT, "no output reported", verdict.duration_ms)
            elif not codec.stdout_matches(got, expected):
                detail = _truncate(f"expected {_short_repr(expected)}, got {_short_repr(got)}")
                verdict = TestVerdict(verdict.index, FAILED, detail, verdict.duration_ms)
        result.append(verdict)
    return result


def _short_repr(value: Any) -> str:
    if type(value) is int and value.bit_length() > 600:  # repr() of a huge int may raise
        return f"<int of {value.bit_length()} bits, {hex(value)[:24]}...>"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _truncate(text: str, limit: int = DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
