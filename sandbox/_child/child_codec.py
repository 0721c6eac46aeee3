from __future__ import annotations

import base64
import math
import sys

from child_kernel import SOLUTION_FILENAME, SOLUTION_MODULE

# --------------------------------------------------------------------------- restricted codec
def _solution_class(cls: type) -> bool:
    if getattr(cls, "__module__", None) == SOLUTION_MODULE:
        return True
    for attribute in vars(cls).values():
        code = getattr(attribute, "__code__", None)
        if code is not None and code.co_filename == SOLUTION_FILENAME:
            return True
    return False


class Unencodable(Exception):
    pass


_COMPARISON_DUNDERS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__")
_BASES = (bool, int, float, complex, str, bytes, bytearray, tuple, list, dict, set, frozenset)


def _plain_base(value) -> type | None:
    """The builtin base of a subclass whose comparison the solution did not change, else None.

    Standard-library subclasses (OrderedDict, Counter, namedtuple classes...) are sent as
    their base; a class defined by the solution that overrides comparison is refused.
    """
    for cls in type(value).__mro__:
        if cls in _BASES:
            return cls
        if _solution_class(cls) and any(name in cls.__dict__ for name in _COMPARISON_DUNDERS):
            return None
    return None


def encode(value, depth: int = 0):
    """Value -> JSON-able tagged form. Only plain data crosses the boundary."""
    if depth > 200:
        raise Unencodable("value nested deeper than 200 levels (or cyclic)")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        return value if -(2**53) < value < 2**53 else ["i", hex(value)]
    if t is float:
        return value if math.isfinite(value) else ["f", repr(value)]
    if t is list:
        return ["l", list(value) if _json_exact_items(value) else [encode(v, depth + 1) for v in value]]
    if t is tuple:
        return ["t", list(value) if _json_exact_items(value) else [encode(v, depth + 1) for v in value]]
    if t is dict:
        return ["d", [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]]
    if t is set:
        return ["s", list(value) if _json_exact_items(value) else [encode(v, depth + 1) for v in value]]
    if t is frozenset:
        return ["z", list(value) if _json_exact_items(value) else [encode(v, depth + 1) for v in value]]
    if t is bytes:
        return ["b", base64.b64encode(value).decode()]
    if t is bytearray:
        return ["y", base64.b64encode(bytes(value)).decode()]
    if t is complex:
        return ["c", encode(value.real, depth + 1), encode(value.imag, depth + 1)]
    base = _plain_base(value)
    if base is None:
        raise Unencodable(
            f"output of type {t.__module__}.{t.__qualname__} cannot leave the sandbox "
            "(only None/bool/int/float/complex/str/bytes/list/tuple/dict/set/frozenset, "
            "and subclasses that do not override comparison)"
        )
    if base is bool:
        return bool(value)
    if base in (list, tuple, set, frozenset, dict):
        return encode(base(value), depth)
    return encode(base(value), depth)


_SAFE_INT = 2**53  # JSON numbers round-trip exactly below this; larger ints cross as hex
_JSON_EXACT = frozenset({int, float, str, bool, type(None)})
_NUMBERS = frozenset({int, float, bool})
_INTEGERS = frozenset({int, bool})


def _json_exact_items(items) -> bool:
    """True if ``encode`` would return every item unchanged (plain ints, finite floats, str...).

    One pass of C-level checks instead of a Python call per item: outputs with a million
    numbers (HumanEval+ /100, /130) otherwise spend seconds here, against their time limit.
    """
    kinds = set(map(type, items))
    if not kinds <= _JSON_EXACT:
        return False
    if kinds == {str} or not items:
        return True
    if kinds <= _NUMBERS:
        # Within +-2**53 every int is exact and every float finite (NaN slips past min/max,
        # hence isfinite, safe on ints of that size); a float beyond that takes the slow path.
        return -_SAFE_INT < min(items) and max(items) < _SAFE_INT and all(map(math.isfinite, items))
    ints = [v for v in items if type(v) is int]
    if ints and not (-_SAFE_INT < min(ints) and max(ints) < _SAFE_INT):
        return False
    return all(map(math.isfinite, [v for v in items if type(v) is float]))


DIGEST_THRESHOLD_BYTES = 64 * 1024


def _hash_hex(data: bytes) -> str:
    """BLAKE2b-256: CPython's own module (hashlib would load OpenSSL into the job: ~5 ms)."""
    try:
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - other Python implementations
        from hashlib import blake2b
    return blake2b(data, digest_size=32).hexdigest()


def _form_digest(form) -> str:
    """The hash of a canonical form; a string is hashed as its bytes (no repr() of megabytes)."""
    if type(form) is str:
        return _hash_hex(b"s" + form.encode("utf-8", "surrogatepass"))
    return _hash_hex(repr(form).encode("utf-8", "surrogatepass"))


def _numbers_form(items) -> list | None:
    """All numbers, integral and below 2**53: one hash of their doubles (exact there).

    Equal lists (``[1, True, 2.0] == [1, 1, 2]``) always take this path and give the same
    bytes; -0.0 is normalised to 0.0 (they are equal). C-level passes only: a million
    numbers cost about 0.3 s, not the seconds of a Python call per item.
    """
    import array

    try:
        doubles = array.array("d", items)
    except OverflowError:  # an int beyond the float range: the exact per-item form
        return None
    if not all(map(float.is_integer, doubles)):  # a fraction, NaN or infinity
        raise ValueError("float")
    if not (-_SAFE_INT < min(doubles) and max(doubles) < _SAFE_INT):
        return None
    words = array.array("Q", doubles.tobytes())
    if words.count(1 << 63):  # -0.0
        doubles = array.array("d", [x + 0.0 for x in doubles])
    return ["#n", _hash_hex(doubles.tobytes())]


def canonical_digest(encoded) -> str | None:
    """The hash of a canonical form of an encoded value, or None if it holds a non-integral float.

    Equal plain values get equal digests: bools and integral floats count as ints (as in
    ``True == 1 == 1.0``), sets and dicts are sorted. Lists and tuples stay distinct.
    """

    def integer(value: int):
        # Hex, never decimal, for big ones: repr() of a million-digit int is quadratic (seconds).
        return value if -_SAFE_INT < value < _SAFE_INT else ["#", format(value, "x")]

    def items_of(items: list) -> list:
        """canon() of each item, with C-level passes for the common all-str / all-number lists."""
        kinds = set(map(type, items))
        if not items:
            return items
        if kinds <= {int, str, type(None)} and kinds != {int}:
            ints = [v for v in items if type(v) is int]
            if not ints or (-_SAFE_INT < min(ints) and max(ints) < _SAFE_INT):
                return items  # each item is its own canonical form
        elif kinds <= _NUMBERS:
            numbers = _numbers_form(items)
            if numbers is not None:
                return numbers
        return [canon(x) for x in items]

    def canon(item):
        kind = type(item)
        if item is None or kind is str:
            return item
        if kind is bool or kind is int:
            return integer(int(item))
        if kind is float:
            if item.is_integer():
                return integer(int(item))
            raise ValueError("float")
        tag = item[0]
        if tag == "i":
            return integer(int(item[1], 16))
        if tag in ("f", "c"):
            raise ValueError("float")
        if tag in ("l", "t"):
            return [tag, items_of(item[1])]
        if tag in ("s", "z"):
            body = item[1]
            if body and set(map(type, body)) <= _NUMBERS:  # sorted first: set order varies
                numbers = _numbers_form(sorted(body))
                if numbers is not None:
                    return ["s", numbers]
            return ["s", sorted((canon(x) for x in body), key=repr)]
        if tag == "d":
            return ["d", sorted(([canon(k), canon(v)] for k, v in item[1]), key=lambda kv: repr(kv[0]))]
        return [tag, item[1]]

    try:
        form = canon(encoded)
    except (ValueError, TypeError, IndexError):
        return None
    return _form_digest(form)


PACK_MAX_ITEMS = 1_200_000  # packed, 10.7 bytes per item in the record: under MAX_RECORD_BYTES


# The byte of each IEEE double that holds its sign and the top 7 of its 11 exponent bits;
# |x| >= 2**49 (biased exponent >= 0x430) exactly when that byte, less the sign, is >= 0x43.
_DOUBLE_TOP_BYTE = 7 if sys.byteorder == "little" else 0
_REACHES_2_49 = bytes(1 if byte & 0x7F >= 0x43 else 0 for byte in range(256))


def _some_double_reaches_2_49(doubles) -> bool:
    """True if a double in the array has magnitude 2**49 or more, or is infinite or NaN."""
    top_bytes = memoryview(doubles).cast("B")[_DOUBLE_TOP_BYTE::8]
    return 1 in bytes(top_bytes).translate(_REACHES_2_49)


def _packed_numbers(value, kinds: set | None = None) -> list | None:
    """A list or tuple of numbers as its machine values: ``["#a", "l"|"t", "q"|"d", base64]``.

    Exact both ways: 64-bit ints as int64, and floats (with any ints below 2**53 among them)
    as IEEE doubles, bit for bit. C-level passes only; the parent rebuilds the list and
    compares it as it compares any output, tolerance included. None if it does not fit, or
    holds something else than numbers (``kinds``: the item types, if already known).
    """
    import array
    from binascii import b2a_base64

    if kinds is None:
        kinds = set(map(type, value))
    if len(value) > PACK_MAX_ITEMS or not kinds <= _NUMBERS:
        return None
    try:
        if kinds <= _INTEGERS:
            packed = array.array("q", value)
        else:
            packed = array.array("d", value)
            # An int of 2**53 or more may have been rounded. Below 2**49 every double is
            # exact; only a list holding a larger (or non-finite) one pays for min and max.
            if int in kinds and _some_double_reaches_2_49(packed):
                if not (-_SAFE_INT < min(value) and max(value) < _SAFE_INT):
                    return None  # an int a double cannot hold exactly (a NaN first also lands here)
    except (OverflowError, TypeError):
        return None
    body = b2a_base64(packed.tobytes(), newline=False).decode("ascii")
    return ["#a", "l" if type(value) is list else "t", packed.typecode, body]


def _output_record(value, dumps, compact_large: bool):
    """What a call's output crosses as: its encoding, or a compact form of a large one.

    With ``compact_large`` (the parent holds expected values), a long list or tuple of numbers
    crosses packed (``_packed_numbers``) and any other large float-free output as the digest
    of its canonical form. Without, every output crosses whole.
    """
    if compact_large and type(value) in (list, tuple) and len(value) * 2 > DIGEST_THRESHOLD_BYTES:
        kinds = set(map(type, value))
        if kinds <= _NUMBERS:
            packed = _packed_numbers(value, kinds)
            if packed is not None:
                return packed
            try:
                numbers = _numbers_form(value)
            except ValueError:  # fractions: compared with a tolerance, so sent whole
                return encode(value)
            if numbers is not None:
                form = ["l" if type(value) is list else "t", numbers]
                return ["#", _form_digest(form)]
    encoded = encode(value)
    return _digest_if_large(encoded, dumps) if compact_large else encoded


def _digest_if_large(encoded, dumps):
    """A large float-free output crosses as its digest (the parent compares digests)."""
    kind = type(encoded)
    if kind is str:
        if len(encoded) <= DIGEST_THRESHOLD_BYTES:
            return encoded
    elif kind is not list:
        return encoded
    else:
        body = encoded[1]
        # Every item takes at least 2 JSON bytes: a longer list is large without encoding it.
        surely_large = type(body) in (list, str) and len(body) * 2 > DIGEST_THRESHOLD_BYTES
        if not surely_large and len(dumps(encoded)) <= DIGEST_THRESHOLD_BYTES:
            return encoded
    digest = canonical_digest(encoded)
    return encoded if digest is None else ["#", digest]


