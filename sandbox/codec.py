"""Parent side of the restricted output encoding, and the comparisons that decide CallTests.

The child encodes a returned value as plain JSON with tags (``sandbox/_child/child_codec.py: encode``):
``["l", [...]]`` list, ``["t", ...]`` tuple, ``["s", ...]`` set, ``["z", ...]`` frozenset,
``["d", [[k, v], ...]]`` dict, ``["b", base64]`` bytes, ``["y", base64]`` bytearray,
``["c", re, im]`` complex, ``["i", hex]`` big int, ``["f", "nan"|"inf"|"-inf"]`` float;
None/bool/int/float/str stand for themselves. When the parent holds expected values, a large
output crosses compactly, at the top level only: ``["#a", "l"|"t", "q"|"d", base64]`` a long
list or tuple of int64s or doubles, ``["#", hex]`` the BLAKE2b digest of any other large
float-free value. ``decode`` accepts nothing else: nothing the child sends is ever unpickled
or evaluated.

Comparison modes are data (``CallTests.comparison``), never benchmark names:
- ``equal``: ``got == expected``; otherwise, when ``atol > 0`` or the expected value is a
  float (or a list/tuple of floats, where the tolerance defaults to 1e-6), numbers are
  compared as ``|got - expected| <= atol + 1e-7 * |expected|`` (NaN equals NaN), recursively
  through lists, tuples and dict values of the same shape.
- ``polynomial_root``: ``got`` is a number x with ``|sum(c * x**i)| <= atol`` (1e-6 if 0)
  for the coefficients ``args[0]``.
"""

from __future__ import annotations

import array
import base64
import binascii
import math
from collections.abc import Sequence
from typing import Any

from sandbox import _child
from sandbox.identity_cache import IdentityCache

MAX_DEPTH = 250
DEFAULT_FLOAT_ATOL = 1e-6
RELATIVE_TOLERANCE = 1e-7


class MalformedOutput(ValueError):
    pass


_SCALARS = frozenset({bool, int, float, str, type(None)})
_CONTAINERS = {"l": list, "t": tuple, "s": set, "z": frozenset}


class Digest(str):
    """A large output the child sent as the BLAKE2b hash of its canonical form (``_child.canonical_digest``)."""


def decode(data: Any, depth: int = 0) -> Any:
    if depth == 0 and type(data) is list and data and data[0] in ("#", "#a"):
        if len(data) == 2 and data[0] == "#" and type(data[1]) is str:
            return Digest(data[1])
        if len(data) == 4:
            return PackedNumbers(*data[1:])
    if depth > MAX_DEPTH:
        raise MalformedOutput("nested too deeply")
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is not list or not data or type(data[0]) is not str:
        raise MalformedOutput(f"unexpected {kind.__name__}")
    tag = data[0]
    try:
        if tag in ("l", "t", "s", "z") and len(data) == 2 and type(data[1]) is list:
            items = data[1]
            if not set(map(type, items)) <= _SCALARS:  # plain items decode to themselves
                items = [decode(item, depth + 1) for item in items]
            return _CONTAINERS[tag](items)
        if tag == "d" and len(data) == 2 and type(data[1]) is list:
            result = {}
            for pair in data[1]:
                if type(pair) is not list or len(pair) != 2:
                    raise MalformedOutput("bad dict item")
                result[decode(pair[0], depth + 1)] = decode(pair[1], depth + 1)
            return result
        if tag in ("b", "y") and len(data) == 2 and type(data[1]) is str:
            raw = base64.b64decode(data[1], validate=True)
            return raw if tag == "b" else bytearray(raw)
        if tag == "c" and len(data) == 3:
            real, imag = decode(data[1], depth + 1), decode(data[2], depth + 1)
            if type(real) not in (int, float) or type(imag) not in (int, float):
                raise MalformedOutput("bad complex")
            return complex(real, imag)
        if tag == "i" and len(data) == 2 and type(data[1]) is str:
            return int(data[1], 16)
        if tag == "f" and len(data) == 2 and data[1] in ("nan", "inf", "-inf"):
            return float(data[1])
    except (TypeError, ValueError) as error:  # unhashable set items, bad base64, bad hex
        raise MalformedOutput(str(error)) from error
    raise MalformedOutput(f"unknown tag {tag!r}")


class PackedNumbers:
    """A long list or tuple of numbers as the child packed it (``_child._packed_numbers``).

    Compared first in its packed form, against the expected value packed the same way (their
    digests); unpacked only when those differ (another type code, -0.0, a tolerance).
    ``decode`` checks the shape; a body that is not base64 fails to unpack, and such an
    output equals nothing.
    """

    __slots__ = ("container", "typecode", "body", "_values")

    def __init__(self, container: Any, typecode: Any, body: Any) -> None:
        if container not in ("l", "t") or typecode not in ("q", "d") or type(body) not in (str, bytes):
            raise MalformedOutput("bad packed numbers")
        if type(body) is str:  # a small record's body came through the JSON parser
            try:
                body = body.encode("ascii")
            except UnicodeEncodeError:
                raise MalformedOutput("bad packed numbers: not base64") from None
        tail = body[-3:]  # (rstrip on the whole body would copy megabytes)
        padding = len(tail) - len(tail.rstrip(b"="))
        if len(body) % 4 or padding > 2 or (len(body) // 4 * 3 - padding) % 8:
            raise MalformedOutput("bad packed numbers: not whole 8-byte numbers")
        self.container, self.typecode, self.body = container, typecode, body
        self._values: list | tuple | None = None

    def values(self) -> list | tuple:
        """The numbers (MalformedOutput if the body is not base64)."""
        if self._values is None:
            numbers = array.array(self.typecode)
            try:
                numbers.frombytes(binascii.a2b_base64(self.body))
            except (binascii.Error, ValueError) as error:
                raise MalformedOutput(f"bad packed numbers: {error}") from error
            items = numbers.tolist()
            self._values = items if self.container == "l" else tuple(items)
        return self._values

    def __repr__(self) -> str:
        try:
            return repr(self.values())
        except MalformedOutput:
            return "<malformed packed numbers>"


_expected_packed: IdentityCache[tuple[str, str, str] | None] = IdentityCache(max_entries=1024)


def _packed_key(container: str, typecode: str, body: bytes) -> tuple[str, str, str]:
    """What identifies a packed form: its shape and the digest of its body (not megabytes)."""
    return container, typecode, _child._hash_hex(body)


def _expected_packed_key(value: Any) -> tuple[str, str, str] | None:
    """``value`` packed as the child would pack it, as a key; None if it does not pack.

    Computed once per value object; the cache keeps 64-character digests, never the forms.
    """

    def key(value: Any) -> tuple[str, str, str] | None:
        packed = _child._packed_numbers(value) if type(value) in (list, tuple) else None
        return None if packed is None else _packed_key(packed[1], packed[2], packed[3].encode("ascii"))

    return _expected_packed.get(value, key)


def _packed_equal(got: PackedNumbers, expected: Any, atol: float) -> bool:
    expected_key = _expected_packed_key(expected)
    if expected_key is not None and expected_key[:2] == (got.container, got.typecode):
        if _packed_key(got.container, got.typecode, got.body) == expected_key:
            return True
    try:
        return outputs_equal(got.values(), expected, atol)
    except MalformedOutput:
        return False


def _is_number(value: Any) -> bool:
    return type(value) in (int, float, bool)


def _is_floats(value: Any) -> bool:
    if type(value) is float:
        return True
    return type(value) in (list, tuple) and bool(value) and all(type(v) is float for v in value)


def _close(got: Any, expected: Any, atol: float) -> bool:
    if _is_number(got) and _is_number(expected):
        if type(got) is float and type(expected) is float and math.isnan(got) and math.isnan(expected):
            return True
        if math.isinf(expected) or math.isinf(got):
            return got == expected
        return abs(got - expected) <= atol + RELATIVE_TOLERANCE * abs(expected)
    if type(got) in (list, tuple) and type(expected) in (list, tuple):
        if type(got) is not type(expected) or len(got) != len(expected):
            return False
        return all(_close(g, e, atol) for g, e in zip(got, expected))
    if type(got) is dict and type(expected) is dict:
        if got.keys() != expected.keys():
            return False
        return all(_close(got[k], expected[k], atol) for k in expected)
    return got == expected


def outputs_equal(got: Any, expected: Any, atol: float = 0.0) -> bool:
    try:
        if got == expected:
            return True
    except Exception:  # noqa: BLE001 - decoded values are plain data, but stay total
        return False
    tolerance = atol if atol > 0 else (DEFAULT_FLOAT_ATOL if _is_floats(expected) else 0.0)
    if tolerance <= 0:
        return False
    return _close(got, expected, tolerance)


def polynomial_root_ok(got: Any, args: Sequence[Any], atol: float) -> bool:
    if not _is_number(got) or not args:
        return False
    tolerance = atol if atol > 0 else DEFAULT_FLOAT_ATOL
    try:
        value = sum(c * got**i for i, c in enumerate(args[0]))
        return abs(value) <= tolerance
    except (TypeError, OverflowError, ValueError):
        return False


_expected_digests: IdentityCache[str | None] = IdentityCache(max_entries=1024)


def _expected_digest(expected: Any) -> str | None:
    """The digest of an expected value, computed once per value object.

    Large expected outputs are compared once per sample and again when the result is
    assembled, and every sample of a problem shares them; a million-item digest costs ~0.3 s.
    """
    return _expected_digests.get(expected, _digest_of)


def _digest_of(value: Any) -> str | None:
    try:
        return _child.canonical_digest(_child.encode(value))
    except Exception:  # noqa: BLE001 - an expected value that cannot be encoded cannot match
        return None


def compare(got: Any, expected: Any, args: Sequence[Any], comparison: str, atol: float) -> bool:
    if isinstance(got, Digest):
        return comparison == "equal" and _expected_digest(expected) == str(got)
    if isinstance(got, PackedNumbers):
        return comparison == "equal" and _packed_equal(got, expected, atol)
    if comparison == "polynomial_root":
        return polynomial_root_ok(got, args, atol)
    if comparison == "equal":
        return outputs_equal(got, expected, atol)
    raise ValueError(f"unknown comparison mode {comparison!r} (expected 'equal' or 'polynomial_root')")


def normalise_stdout(text: str) -> list[str]:
    """Lines with surrounding whitespace removed, without leading/trailing blank lines."""
    return [line.strip() for line in text.strip().splitlines()]


def stdout_matches(got: str, expected: str) -> bool:
    return normalise_stdout(got) == normalise_stdout(expected)
