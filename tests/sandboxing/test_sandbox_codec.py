"""The parent never trusts what the child sends: strict decoding, and the comparison modes."""

from __future__ import annotations

import math

import pytest

from sandbox import _child, codec


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -(2**80), 1.5, math.inf, "s", b"\x00b", bytearray(b"x"), [1, [2]], (1, (2,)),
     {1: (2, 3), "k": {4}}, {frozenset({1})}, complex(1, -2), [[[]]]],
)
def test_round_trip(value):
    assert codec.decode(_child.encode(value)) == value
    assert type(codec.decode(_child.encode(value))) is type(value)


def test_nan_round_trips():
    assert math.isnan(codec.decode(_child.encode(float("nan"))))


@pytest.mark.parametrize(
    "junk",
    [{"a": 1}, ["q", []], ["l"], ["s", [["l", []]]], ["b", "!!"], ["i", "zz"], ["f", "1e999x"], ["c", "a", 1], [1, 2]],
)
def test_decode_rejects_anything_else(junk):
    with pytest.raises(codec.MalformedOutput):
        codec.decode(junk)


def test_encode_refuses_deep_or_cyclic_values():
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(_child.Unencodable):
        _child.encode(cyclic)


def test_equal_with_tolerance_is_recursive_and_type_strict_for_containers():
    assert codec.outputs_equal([1.0, (2.0,)], [1.0 + 1e-9, (2.0 - 1e-9,)], atol=1e-6)
    assert not codec.outputs_equal([1.0], (1.0,), atol=1e-6)
    assert codec.outputs_equal(1, 1.0)
    assert codec.outputs_equal(float("nan"), float("nan"), atol=1e-6)
    assert not codec.outputs_equal(0.5, 0.6, atol=1e-6)
    assert not codec.outputs_equal("a", "b", atol=1.0)


def test_polynomial_root_and_unknown_mode():
    assert codec.compare(2.0, None, ([-4, 0, 1],), "polynomial_root", 1e-6)
    assert not codec.compare("2", None, ([-4, 0, 1],), "polynomial_root", 1e-6)
    with pytest.raises(ValueError):
        codec.compare(1, 1, (), "fuzzy", 0.0)


def test_stdout_comparison_ignores_surrounding_whitespace_only():
    assert codec.stdout_matches("1 2\n3  \n\n", "  1 2\n3")
    assert not codec.stdout_matches("1 2", "1  2")
    assert not codec.stdout_matches("1\n2", "1 2")
