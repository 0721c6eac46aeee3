"""Large call outputs end to end: packed number lists, digested values, judging as they arrive.

A child sends a long list of numbers packed (int64s or doubles, base64, spliced into its
record line) and any other large float-free output as a digest; the parent compares both
against expected values the child never sees. These run real sandboxed children.
"""

from __future__ import annotations

import json

import pytest

from sandbox import _child, codec, execute, launch, watch
from sandbox.types import CallTests, ExecutionRequest, Limits

N = 200_000  # well past the 64 KB threshold: every output below crosses packed or digested
LIMITS = Limits(timeout_s=10.0)
HALVES = "def f(n, shift=0.0):\n    return [i / 2 + shift for i in range(n)]\n"
INTS = "def f(n):\n    return list(range(n))\n"


def run(program: str, tests: CallTests, **kwargs):
    return execute(ExecutionRequest(program, tests, LIMITS, **kwargs))


def halves(n: int) -> list[float]:
    return [i / 2 for i in range(n)]


@pytest.mark.parametrize("stop_on_first_failure", [False, True])
def test_many_large_number_outputs_pass_and_a_wrong_one_fails(stop_on_first_failure):
    inputs = [(N,)] * 12 + [(N, 1e-3)]  # the last output is off by 1e-3 everywhere
    tests = CallTests("f", tuple(inputs), expected=tuple(halves(N) for _ in inputs))
    result = run(HALVES, tests, stop_on_first_failure=stop_on_first_failure)
    assert [v.status for v in result.tests] == ["passed"] * 12 + ["failed"]
    assert result.tests[-1].detail.startswith("expected [0.0, 0.5, 1.0")
    assert "got [0.001, 0.501, 1.001" in result.tests[-1].detail


def test_packed_outputs_compare_by_value_and_with_the_tolerance():
    # ints against expected floats: another packed form, equal values
    assert run(INTS, CallTests("f", ((N,),), expected=([float(i) for i in range(N)],))).status == "passed"
    # within the default float tolerance (1e-6) of every expected value
    nearly = CallTests("f", ((N, 1e-9),), expected=(halves(N),))
    assert run(HALVES, nearly).status == "passed"
    wrong_length = CallTests("f", ((N,),), expected=(list(range(N - 1)),))
    assert run(INTS, wrong_length).status == "failed"


def test_a_tuple_is_not_a_list_even_packed():
    program = "def f(n):\n    return tuple(range(n))\n"
    assert run(program, CallTests("f", ((N,),), expected=(list(range(N)),))).status == "failed"
    assert run(program, CallTests("f", ((N,),), expected=(tuple(range(N)),))).status == "passed"


def test_large_strings_cross_as_digests():
    program = "def f(n):\n    return 'ab' * n\n"
    assert run(program, CallTests("f", ((N,),), expected=("ab" * N,))).status == "passed"
    result = run(program, CallTests("f", ((N,),), expected=("ab" * (N - 1) + "ax",)))
    assert result.status == "failed" and "BLAKE2b digest" in result.tests[0].detail


def test_outputs_mode_returns_large_lists_whole():
    result = run(INTS, CallTests("f", ((N,),), expected=None))
    assert result.outputs == (list(range(N)),)


def test_packed_body_is_cut_before_parsing_and_restored():
    packed = _child._packed_numbers(list(range(10_000)))
    line = json.dumps(["n" * 32, "T", 0, "passed", "", 1.5, [packed]], separators=(",", ":")).encode()
    cut, body = watch._cut_packed_body(line)
    assert body == packed[3].encode() and len(cut) < 200  # bytes: hashed as they are
    record = json.loads(cut)
    watch._restore_packed_body(record, body)
    assert record[6][0] == [*packed[:3], body]
    assert codec.decode(record[6][0]).values() == list(range(10_000))
    # Not a packed record: a large bytes output ends the same way but is left whole.
    other = json.dumps(["n" * 32, "T", 0, "passed", "", 1.5, [["b", "QUJD" * 20_000]]], separators=(",", ":"))
    assert watch._cut_packed_body(other.encode()) == (other.encode(), None)
