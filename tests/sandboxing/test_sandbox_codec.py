"""The parent never trusts what the child sends: strict decoding, and the comparison modes."""

from __future__ import annotations

import array
import json
import math
import struct

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
        for sent, expected in ((left, right), (right, left)):
            record = _child._output_record(sent, dumps, True)
            assert record[0] in ("#", "#a")  # digested or packed, never sent as JSON items
            assert codec.compare(codec.decode(record), expected, (), "equal", 0.0)


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
        assert record[0] != "#"  # sent whole or packed: compared with a tolerance in the parent
        assert repr(codec.decode(record)) == repr(value)


@pytest.mark.parametrize(
    ("value", "typecode"),
    [
        ([-(2**63), 2**63 - 1, 0, True] * BIG, "q"),
        ((0.1, -0.0, math.inf, -math.inf, math.nan, 5e-324, 1.7e308) * BIG, "d"),
        ([1, 2.5, -(2**53) + 1, 2**53 - 1] * BIG, "d"),
        ([True, False, 0.5] * BIG, "d"),
    ],
)
def test_long_number_lists_cross_packed_and_exact(value, typecode):
    record = _child._output_record(value, _child._record_encoder(), True)
    assert record[:3] == ["#a", "l" if type(value) is list else "t", typecode]
    got = codec.decode(json.loads(json.dumps(record)))
    assert isinstance(got, codec.PackedNumbers)
    values = got.values()
    assert type(values) is type(value) and len(values) == len(value)
    # Bit for bit (NaN and -0.0 included): the packed doubles are the values themselves.
    assert struct.pack(f"{len(values)}d", *values) == struct.pack(f"{len(value)}d", *value)
    if math.nan not in value:  # NaN != NaN: such a list equals nothing, as in Python
        assert codec.compare(got, value, (), "equal", 0.0)
        assert codec.compare(got, list(value) if type(value) is tuple else tuple(value), (), "equal", 0.0) is False


@pytest.mark.parametrize(
    ("double", "reaches"),
    [(0.0, False), (2.0**49 - 1, False), (-(2.0**49) + 1, False), (5e-324, False),
     (2.0**49, True), (-(2.0**49), True), (1e300, True), (math.inf, True), (math.nan, True)],
)
def test_the_exponent_scan_finds_every_double_from_2_to_the_49(double, reaches):
    # Ints among floats pay for min() and max() only when this scan finds such a double.
    assert _child._some_double_reaches_2_49(array.array("d", [1.5] * 1000 + [double])) is reaches


@pytest.mark.parametrize(
    "value",
    [
        [2**63] + [1] * BIG,  # beyond int64
        [2**53, 0.5] * BIG,  # an int a double cannot hold exactly, among floats
        [math.nan, 2**60] + [0.5] * BIG,  # NaN first: max() cannot vouch for the ints
        [1] * (_child.PACK_MAX_ITEMS + 1),  # beyond what one record holds packed
    ],
)
def test_number_lists_that_cannot_be_packed_exactly_take_the_other_paths(value):
    record = _child._output_record(value, _child._record_encoder(), True)
    assert record[0] != "#a"
    got = codec.decode(json.loads(json.dumps(record)))
    if isinstance(got, codec.Digest):
        assert codec.compare(got, list(value), (), "equal", 0.0)
    else:
        assert repr(got) == repr(value)  # sent whole: every item as it was


@pytest.mark.parametrize(
    "record",
    [
        ["#a", "l", "q", "not base64!"],
        ["#a", "l", "q", "AAAA"],  # 3 bytes: not a whole int64
        ["#a", "l", "O", "AAAAAAAAAAA="],  # an array type code the child never sends
        ["#a", "d", "q", "AAAAAAAAAAA="],
        ["#a", "l", "q", 7],
    ],
)
def test_malformed_packed_numbers_are_rejected(record):
    with pytest.raises(codec.MalformedOutput):
        codec.decode(record)


def test_packed_numbers_that_are_not_base64_equal_nothing():
    got = codec.decode(["#a", "l", "q", "!!!!AAAAAAA="])  # the right length, not base64
    assert not codec.compare(got, [0], (), "equal", 0.0)
    assert repr(got) == "<malformed packed numbers>"


def test_packed_floats_compare_with_the_tolerance():
    expected = [i / 3 for i in range(BIG)]
    nearly = [x + 1e-9 for x in expected]
    got = codec.decode(_child._output_record(nearly, _child._record_encoder(), True))
    assert isinstance(got, codec.PackedNumbers)
    assert codec.compare(got, expected, (), "equal", 0.0)  # float lists: 1e-6 by default
    assert not codec.compare(got, [x + 1e-3 for x in expected], (), "equal", 0.0)


def test_large_outputs_compare_in_the_parent_packed_or_digested():
    dumps = _child._record_encoder()
    expected = [float(i) for i in range(BIG)]
    got = codec.decode(_child._output_record(list(range(BIG)), dumps, True))
    assert isinstance(got, codec.PackedNumbers) and got.values() == expected
    assert codec.compare(got, expected, (), "equal", 0.0)
    assert not codec.compare(got, expected[:-1], (), "equal", 0.0)
    words = [str(i) for i in range(BIG)]
    got = codec.decode(_child._output_record(words, dumps, True))
    assert isinstance(got, codec.Digest)
    assert codec.compare(got, list(words), (), "equal", 0.0)
    assert not codec.compare(got, words[:-1], (), "equal", 0.0)
