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


# --------------------------------------------------------------------------- digests
BIG = _child.DIGEST_THRESHOLD_BYTES  # lists longer than BIG / 2 take the C-level paths


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ([1, True, 2.0] * BIG, [1, 1, 2] * BIG),
        ([-0.0, 1] * BIG, [0, 1] * BIG),
        (set(range(BIG)) | {2.0**40}, {float(i) for i in range(BIG)} | {2**40}),
        ([1, None] * BIG, [1.0, None] * BIG),
        ([2**60] + list(range(BIG)), [2**60] + [float(i) for i in range(BIG)]),
        (tuple(range(BIG)), tuple(float(i) for i in range(BIG))),
        ("x" * BIG * 2, "x" * BIG * 2),
    ],
)
def test_equal_values_have_equal_digests_whichever_path_they_take(left, right):
    assert left == right
    digest = _child.canonical_digest(_child.encode(left))
    assert digest is not None
    assert digest == _child.canonical_digest(_child.encode(right))
    if isinstance(left, (list, tuple, str)):  # what a child sends for a large call output
        dumps = _child._record_encoder()
        assert _child._output_record(left, dumps, True) == ["#", digest]
        assert _child._output_record(right, dumps, True) == ["#", digest]


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (list(range(BIG)), list(range(1, BIG + 1))),
        (list(range(BIG)), tuple(range(BIG))),
        (list(range(BIG)), list(reversed(range(BIG)))),
        ([2**60] + list(range(BIG)), [2**60 + 1] + list(range(BIG))),
        ("x" * BIG * 2, "y" + "x" * (BIG * 2 - 1)),
    ],
)
def test_different_values_have_different_digests(left, right):
    assert _child.canonical_digest(_child.encode(left)) != _child.canonical_digest(_child.encode(right))


def test_fractions_and_non_finite_numbers_are_never_digested():
    dumps = _child._record_encoder()
    for value in ([0.5] * BIG, [math.inf] + [1] * BIG, [math.nan] + [1] * BIG):
        assert _child.canonical_digest(_child.encode(value)) is None
        record = _child._output_record(value, dumps, True)
        assert record[0] == "l"  # sent whole: compared with a tolerance in the parent
        assert repr(codec.decode(record)) == repr(value)


def test_large_outputs_compare_through_their_digest_in_the_parent():
    expected = [float(i) for i in range(BIG)]
    got = codec.decode(_child._output_record(list(range(BIG)), _child._record_encoder(), True))
    assert isinstance(got, codec.Digest)
    assert codec.compare(got, expected, (), "equal", 0.0)
    assert not codec.compare(got, expected[:-1], (), "equal", 0.0)
