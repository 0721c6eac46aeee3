"""The child side of the sandbox: isolation layers, the warm fork server, and the test runner.

Self-contained (standard library only, no ``sandbox`` imports) because it runs as a script:
``python -S -P _child.py server FD CONFIG`` (the warm fork server), ``... spawn ...`` (one fresh
interpreter per execution, the fallback) and ``... probe`` (what ``isolation_report`` shows).
Nothing here decides a verdict for CallTests or StdioTests: the child reports outputs only
and the parent (``sandbox/executor.py``) compares them; check_function / asserts verdicts come
from a judge job that never runs candidate code (below).

Process layout (fork-server mode, the default)::

    launcher (python -S -P _child.py server)      unshare(net, pid, mount, ipc, uts), fork
      └─ zygote: pid 1 of the new pid namespace. Read-only view of the host file system,
         fresh /proc (hidepid=2), private /tmp and /dev/shm, root's home hidden except the
         interpreter; pids + memory cgroup backstop; common modules imported. Never runs
         candidate code; forks one job per request and reaps it.
           └─ job: a bounded tmpfs of its own as its working directory (a reused slot,
              0700, wiped between jobs), unprivileged uid (one per job), no_new_privs,
              rlimits (CPU, address space,
              processes, file size, open files, no core), scrubbed environment, stdin
              /dev/null, stdout/stderr to a capped pipe, new session. Runs the tests.

Orphans (double-forked daemons) are re-parented to the zygote (pid 1) and killed when any
job ends; everything left dies with the pid namespace when the zygote exits. In spawn mode
each execution enters its own namespaces (the spawned interpreter is the keeper, the job is
pid 1). Without namespaces (``PATFLOW_SANDBOX_NAMESPACES=0`` or a kernel that refuses) the
zygote/keeper is a child subreaper that kills what is left, and the working directory is a
private 0700 directory under the host's /tmp; world-writable host directories are then
writable by the job's uid.

Which guarantees hold where (``patflow doctor`` prints the layers):
- always: rlimits, scrubbed environment, private working directory, closed stdin, capped
  output, whole-tree kill, result records only with the per-run nonce;
- as root: uid drop (RLIMIT_NPROC then holds; other processes' /proc/*/environ unreadable);
- with unshare(2) allowed (Linux >= 3.8, root or user namespaces): no network at all (not
  even loopback), no view of other processes, read-only host file system;
- with writable cgroup v1 pids + memory controllers: a backstop for all jobs of one server
  (per-job cgroups with ``PATFLOW_SANDBOX_JOB_CGROUPS=1``; they cost ~1-5 ms per job here).

Verdicts no candidate can forge (check_function / asserts): the test code (the dataset's
``check``, asserts, trusted helpers, imports) runs in a *judge* job, the candidate's program
in a job of its own (another uid when run as root; on every kernel the judge is not
dumpable, so a same-uid candidate cannot ptrace it or read its /proc/<pid>/{mem,fd}). They
share one stream socket and nothing else: each call of the candidate from test code is a
request (pickled arguments: the judge is trusted) and the answer is the restricted codec's
JSON (plain data), an exception's name and message, or an opaque handle to an object that
stays in the candidate's process (calling, iterating or reading a public attribute of a
handle is another request; it equals only itself and has no truth value). Top-level list,
dict, set and bytearray arguments travel back after each call, so in-place mutation tests
work. ``setup_code`` runs candidate-side (MBPP's ``Node`` trees), and the names it binds
reach the tests like the program's own: plain values by value, objects as handles. A name
the test code reads resolves, the later winning: the program's (a module by name,
re-imported in the judge if it is standard library), the trusted imports and helpers, the
entry point; builtin names are the judge's own unless one is the entry point. The nonce, the expected values, frames and the result fd
exist only in the judge; the candidate's side writes only to its socket and the capped
output pipe. A closed socket or a malformed answer ends the judge at once (exit 72 / 73),
and the parent reports the test from the candidate's exit status, never as passed; a
candidate's load-failure status is reported only if it is a failure status.

Reward hacks, what else is caught:
- Call tests: a returned object of a class the solution defined (its ``__module__`` is the
  solution's, or one of its methods was compiled from the solution) that overrides comparison
  is refused (``error:UnencodableOutput``); plain subclasses cross as their base, so a class
  that lies about ``__module__`` and reuses a builtin comparison crosses as the plain value.
- Replacing names in ``builtins`` or functions in math, operator, functools, itertools,
  collections, re, json: in call tests, checked after loading and after every passing test
  (CPython's dict version tags make this ~free; "reward hack: ..."). In the judged formats
  the patch stays in the candidate's process, which the tests never use.
- ``sys.exit`` / ``SystemExit`` anywhere is ``error:SystemExit``; ``os._exit`` or killing
  itself leaves no record (``no_result`` / ``crashed``); a forked copy of the runner (or of
  the candidate's request loop) never reports (fork-and-guess); text on stdout/stderr is never
  read as a verdict.
- Reading expected values from the caller's frames, bytecode or ``gc``: the candidate's
  process holds none in any format (call and stdio outputs are compared in the parent).
What is not caught:
- Test code that hands the candidate what it checks (an expected value as an argument).
  Helpers a test uses that the TestSpec does not carry as trusted ``helpers`` resolve to
  the program's definitions (remote calls the candidate answers). Test code that passes a
  function or object the candidate's process cannot unpickle gets an error, not a verdict.
- Tampering with objects through ``ctypes`` inside the candidate's own process. Jobs of one
  server share its network namespace (no interface is up, but abstract unix sockets could
  connect two concurrent jobs).
"""

from __future__ import annotations

import base64
import builtins
import ctypes
import gc
import json
import marshal
import math
import os
import pickle
import resource
import signal
import _signal
import socket
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RDONLY = 1
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

SERVER_PIDS_MAX = 4096  # all jobs of one fork server together
SANDBOX_UID_BASE = 200_000  # uids nobody on the host uses; one per running job
SANDBOX_UID_SPAN = 50_000
SOLUTION_FILENAME = "<solution>"
SOLUTION_MODULE = "__solution__"
DETAIL_CHARS = 500
MAX_RECORD_BYTES = 16 * 1024 * 1024

# Modules imported once in the warm server so that children do not pay for them (and so that
# they stay importable where the interpreter's files are not readable after the uid drop).
# Only what most solutions use: every page the server holds makes each fork and exit dearer
# (measured: OpenSSL via hashlib/random alone adds ~4 MB). Anything else imports lazily.
PREIMPORTS = "bisect collections functools heapq itertools math operator re string typing".split()

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


# --------------------------------------------------------------------------- kernel helpers
def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, value, 0, 0, 0), f"prctl({option})")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def umount(target: str) -> None:
    _check(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _readable_by_others(path: str) -> bool:
    """Whether an unprivileged user can reach ``path`` (every ancestor has o+x)."""
    parts = os.path.abspath(path).split("/")
    for i in range(2, len(parts) + 1):
        prefix = "/".join(parts[:i]) or "/"
        try:
            if not os.stat(prefix).st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- restricted codec
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


# --------------------------------------------------------------------------- reward-hack guard
class RewardHack(Exception):
    """Raised by the test-side guards; never catchable by the candidate's own code paths."""


_TRUTH_DUNDERS = ("__bool__", "__len__")


def _solution_class(cls: type) -> bool:
    if getattr(cls, "__module__", None) == SOLUTION_MODULE:
        return True
    for attribute in vars(cls).values():
        code = getattr(attribute, "__code__", None)
        if code is not None and code.co_filename == SOLUTION_FILENAME:
            return True
    return False


def _suspicious(value, dunders: tuple[str, ...], depth: int = 0) -> type | None:
    """A solution-defined class on ``value`` (or inside it) that overrides one of ``dunders``."""
    if depth > 50:
        return None
    t = type(value)
    if t in (int, float, str, bool, bytes, type(None), complex):
        return None
    if t in (list, tuple, set, frozenset):
        for item in value:
            found = _suspicious(item, dunders, depth + 1)
            if found is not None:
                return found
        return None
    if t is dict:
        for key, item in value.items():
            found = _suspicious(key, dunders, depth + 1) or _suspicious(item, dunders, depth + 1)
            if found is not None:
                return found
        return None
    for cls in t.__mro__[:-1]:
        if _solution_class(cls) and any(name in cls.__dict__ for name in dunders):
            return cls
    return None


class _Guard:
    """Comparisons in test code go through here (the test code's AST is rewritten)."""

    def __init__(self) -> None:
        self.last: tuple[str, str] | None = None

    def compare(self, left, op: str, right):
        dunders = _COMPARISON_DUNDERS
        for value, other in ((left, right), (right, left)):
            cls = _suspicious(value, dunders)
            if cls is not None and type(other) is not cls:
                raise RewardHack(f"a returned {cls.__qualname__} (defined by the solution) overrides comparison")
        self.last = (left, right) if op in ("==", "!=") else None
        return _OPS[op](left, right)

    def truth(self, value):
        cls = _suspicious(value, _TRUTH_DUNDERS + _COMPARISON_DUNDERS)
        if cls is not None:
            raise RewardHack(f"a returned {cls.__qualname__} (defined by the solution) overrides truth or comparison")
        return value


_OPS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_OP_NAMES = {"Eq": "==", "NotEq": "!=", "Lt": "<", "LtE": "<=", "Gt": ">", "GtE": ">="}
GUARD_NAME = "__patflow_guard__"


def compile_test_code(source: str, filename: str):
    """Test code with every single comparison and assert routed through the guard."""
    import ast  # only the parent compiles test code; the fork server never imports ast

    def guard_call(method: str, args: list) -> ast.Call:
        return ast.Call(ast.Attribute(ast.Name(GUARD_NAME, ast.Load()), method, ast.Load()), args, [])

    class GuardRewriter(ast.NodeTransformer):
        def visit_Compare(self, node: ast.Compare):
            self.generic_visit(node)
            op = type(node.ops[0]).__name__
            if len(node.ops) != 1 or op not in _OP_NAMES:
                return node
            return ast.copy_location(guard_call("compare", [node.left, ast.Constant(_OP_NAMES[op]), node.comparators[0]]), node)

        def visit_Assert(self, node: ast.Assert):
            self.generic_visit(node)
            node.test = ast.copy_location(guard_call("truth", [node.test]), node.test)
            return node

    tree = GuardRewriter().visit(ast.parse(source, filename=filename))
    return compile(ast.fix_missing_locations(tree), filename, "exec")


def precompile_test_code(source: str, filename: str) -> bytes | str:
    """Parent side: the guarded code object, marshalled (same interpreter), or the error text."""
    try:
        return marshal.dumps(compile_test_code(source, filename))
    except (SyntaxError, ValueError) as error:
        return f"{type(error).__name__}: {error}"


def _test_code(item, filename: str):
    """A test's code object from a precompiled item (bytes), its source (str) or an error."""
    if isinstance(item, bytes):
        return marshal.loads(item)
    if isinstance(item, tuple) and item and item[0] == "error":
        return str(item[1])
    try:
        return compile_test_code(item, filename)
    except (SyntaxError, ValueError) as error:
        return f"{type(error).__name__}: {error}"


# --------------------------------------------------------------------------- tamper check
_WATCHED_MODULES = ("builtins", "math", "operator", "functools", "itertools", "collections", "re", "json")


class Snapshot:
    """What the watched modules held before the candidate ran.

    Taken once in the warm server (so children do not pay for copying). The per-test check
    first compares CPython's dict version tags (PEP 509; any change to a dict bumps it), and
    only on a change looks at which names differ.
    """

    def __init__(self) -> None:
        self.modules = {name: sys.modules[name] for name in _WATCHED_MODULES if name in sys.modules}
        self.saved = {name: dict(vars(module)) for name, module in self.modules.items()}
        # Views on each module dict's version tag, made once (module dicts never move).
        self.tags = {name: _version_view(vars(module)) for name, module in self.modules.items()}
        self.versions = {name: tag.value if tag is not None else None for name, tag in self.tags.items()}

    def tampered(self) -> str:
        modules = sys.modules
        for name, module in self.modules.items():
            if modules.get(name) is not module:
                return f"module {name} was replaced in sys.modules"
            tag = self.tags[name]
            version = tag.value if tag is not None else None
            if version is not None and version == self.versions[name]:
                continue
            found = _changed(name, vars(module), self.saved[name])
            if found:
                return found
            self.versions[name] = version
        return ""


_DICT_VERSION_OFFSET = 24  # PyObject_HEAD (16) + ma_used (8); CPython 3.6-3.11
_HAS_DICT_VERSIONS = sys.implementation.name == "cpython" and (3, 6) <= sys.version_info[:2] <= (3, 11)


def _version_view(mapping: dict):
    if not _HAS_DICT_VERSIONS:
        return None
    return ctypes.c_uint64.from_address(id(mapping) + _DICT_VERSION_OFFSET)


def _changed(module_name: str, current: dict, saved: dict) -> str:
    is_builtins = module_name == "builtins"
    for key, value in saved.items():
        if (key.startswith("_") and not is_builtins) or key == "_":
            continue
        if current.get(key, _MISSING) is not value:
            return f"{module_name}.{key} was replaced"
    if is_builtins:
        added = set(current) - set(saved) - {"_"}
        if added:
            return f"builtins.{sorted(added)[0]} was added"
    return ""


_WARM_SNAPSHOT: Snapshot | None = None


def _snapshot() -> Snapshot:
    return _WARM_SNAPSHOT if _WARM_SNAPSHOT is not None else Snapshot()


def _tampered(snapshot: Snapshot) -> str:
    """What the candidate replaced in builtins or the watched modules ("" if nothing)."""
    return snapshot.tampered()


_MISSING = object()


# --------------------------------------------------------------------------- the runner
def _truncate(text: str, limit: int = DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_repr(value) -> str:
    try:
        return _truncate(repr(value), 200)
    except BaseException as error:  # noqa: BLE001 - a hostile __repr__ must not end the run
        return f"<unrepresentable {type(value).__name__}: {type(error).__name__}>"


def _exception_status(error: BaseException) -> str:
    if isinstance(error, MemoryError):
        return "memory_exceeded"
    return f"error:{type(error).__name__}"


def _exception_detail(error: BaseException) -> str:
    try:
        return _truncate(f"{type(error).__name__}: {error}")
    except BaseException:  # noqa: BLE001
        return type(error).__name__


_NO_OUTPUT = object()


class _Stop(Exception):
    """Ends a call/stdio run early (stop_on_first_failure); caught by ``Runner.run``."""


def _record_encoder():
    """JSON for result records: compact, ASCII, no NaN; the C encoder built once.

    ``json.dumps`` (and ``JSONEncoder.encode``) build a new C encoder per call, half the
    cost of a small record; a run with 1,000 inputs writes 1,000 records.
    """
    from json.encoder import c_make_encoder, encode_basestring_ascii

    if c_make_encoder is None:  # pragma: no cover - CPython always has the C accelerator
        return json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode

    def unencodable(value):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    encode = c_make_encoder(None, unencodable, encode_basestring_ascii, None, ":", ",", False, False, False)
    join = "".join
    return lambda value: join(encode(value, 0))


class Runner:
    """Runs one job inside C2 and emits records."""

    def __init__(self, job: dict, result_fd: int) -> None:
        self.job = job
        self.result_fd = result_fd
        self.nonce = job.get("nonce", "")  # the candidate's job has none: it never reports
        self._dumps = _record_encoder()
        self._write = os.write
        self._clock = time.perf_counter
        self._getpid = os.getpid
        self._exit = os._exit
        self.owner_pid = os.getpid()

    def emit(self, *fields) -> None:
        if self._getpid() != self.owner_pid:
            # A forked copy of the runner (the candidate called fork): it never reports, or
            # a program could fork, try several answers and let the right one report first.
            self._exit(0)
        line = self._dumps([self.nonce, *fields]).encode() + b"\n"
        if len(line) > MAX_RECORD_BYTES:
            line = self._dumps([self.nonce, *fields[:2], "output_limit", "result record too large", fields[4], None]).encode() + b"\n"
        _write_all(self.result_fd, line)

    def emit_packed(self, index: int, duration_ms: float, packed: list) -> None:
        """A passed call whose output crossed packed: the base64 body is spliced into the line.

        Base64 holds no character JSON escapes, so the encoder need not scan megabytes of it.
        A record too large for that takes ``emit``, which reports it as such.
        """
        head = self._dumps([self.nonce, "T", index, "passed", "", duration_ms, [[*packed[:3], ""]]])
        if len(head) + len(packed[3]) >= MAX_RECORD_BYTES or not head.endswith('""]]]'):
            self.emit("T", index, "passed", "", duration_ms, [packed])
            return
        if self._getpid() != self.owner_pid:
            self._exit(0)  # a forked copy of the runner never reports (see emit)
        _write_all(self.result_fd, b"".join((head[:-4].encode(), packed[3].encode(), b'"]]]\n')))

    def run(self) -> None:
        kind = self.job["kind"]
        if kind == "candidate":
            run_candidate(self)
            return
        if kind == "judge_server":
            serve_judgements(self.job["channel_fd"])
            return
        try:
            if kind == "stdio":
                self.run_stdio()
            elif kind == "call":
                self.run_functional(kind)
            else:
                self.run_judged(kind)
        except _Stop:
            pass
        self.emit("D")  # done: the parent need not wait for the exit status

    # --- function formats
    def load(self, namespace: dict) -> tuple[str, str] | None:
        job = self.job
        try:
            if job.get("imports"):
                exec(compile(job["imports"], "<imports>", "exec"), namespace)  # noqa: S102
        except BaseException as error:  # noqa: BLE001
            return _exception_status(error), "in imports: " + _exception_detail(error)
        try:
            code = compile(job["program"], SOLUTION_FILENAME, "exec")
        except (SyntaxError, ValueError) as error:
            return "syntax_error", _exception_detail(error)
        except MemoryError as error:
            return "memory_exceeded", _exception_detail(error)
        try:
            exec(code, namespace)  # noqa: S102
        except BaseException as error:  # noqa: BLE001
            return _exception_status(error), "while loading the program: " + _exception_detail(error)
        if job.get("setup_code"):
            try:
                exec(compile(job["setup_code"], "<setup>", "exec"), namespace)  # noqa: S102
            except BaseException as error:  # noqa: BLE001
                return _exception_status(error), "in setup code: " + _exception_detail(error)
        return None

    def run_judged(self, kind: str) -> None:
        """The judge: test code runs here; the candidate is reached only through the link."""
        job = self.job
        link = CandidateLink(job["channel_fd"])
        start = self._clock()
        hello = link.receive()
        if hello[0] == "F" and len(hello) == 3:
            detail = hello[2] if type(hello[2]) is str else ""
            self.emit("F", _load_status(hello[1]), _truncate(detail), (self._clock() - start) * 1000)
            return
        if hello[0] != "L" or len(hello) != 2 or type(hello[1]) is not dict:
            os._exit(MALFORMED_REPLY_EXIT)
        names = hello[1]
        namespace = {"__name__": "__patflow_test__", "__builtins__": builtins}
        for name, description in names.items():
            if name.isidentifier() and name in job["names"]:
                namespace[name] = link.value(description)
        for source, what in ((job.get("imports"), "imports"), (job.get("helpers"), "test helpers")):
            if source:
                try:
                    exec(compile(source, f"<{what}>", "exec"), namespace)  # noqa: S102 - trusted
                except BaseException as error:  # noqa: BLE001
                    self.emit("F", _exception_status(error), f"in {what}: " + _exception_detail(error), (self._clock() - start) * 1000)
                    return
        entry = job.get("entry_point")
        if entry:
            namespace.pop(entry, None)  # a helper's stub of the entry point is not the candidate
            if entry in names:
                namespace[entry] = link.value(names[entry])
        self.emit("L", (self._clock() - start) * 1000)
        guard = _Guard()
        namespace[GUARD_NAME] = guard
        if kind == "check_function":
            self.run_check(namespace, namespace, guard, None)
        else:
            self.run_asserts(namespace, guard, None)

    def run_functional(self, kind: str) -> None:
        """Call tests: the program and the calls run here; the parent compares the outputs."""
        snapshot = _snapshot()
        namespace = {"__name__": SOLUTION_MODULE, "__builtins__": builtins}
        start = self._clock()
        failure = self.load(namespace)
        tampered = _tampered(snapshot)
        if failure is None and tampered:
            failure = ("failed", "reward hack: " + tampered)
        if failure is not None:
            self.emit("F", failure[0], failure[1], (self._clock() - start) * 1000)
            return
        self.emit("L", (self._clock() - start) * 1000)
        self.run_calls(namespace, snapshot)

    def finish_test(self, index: int, status: str, detail: str, started: float, snapshot, output=_NO_OUTPUT) -> None:
        duration_ms = (self._clock() - started) * 1000
        if status == "passed" and snapshot is not None:
            tampered = _tampered(snapshot)
            if tampered:
                status, detail = "failed", "reward hack: " + tampered
        if status == "passed" and type(output) is list and output[0] == "#a":
            self.emit_packed(index, duration_ms, output)
        else:
            self.emit("T", index, status, detail, duration_ms, None if output is _NO_OUTPUT else [output])
        if status != "passed" and self.job.get("stop_on_first_failure") and self.job["kind"] in ("call", "stdio"):
            raise _Stop  # outputs are judged by the parent; a child-side failure is final

    def _judge(self, guard: _Guard, code, namespace: dict) -> tuple[str, str]:
        guard.last = None
        try:
            exec(code, namespace)  # noqa: S102
        except AssertionError as error:
            detail = _exception_detail(error) if str(error) else "assertion failed"
            if guard.last is not None:
                got, expected = guard.last
                detail = f"expected {_safe_repr(expected)}, got {_safe_repr(got)}"
            return "failed", detail
        except RewardHack as error:
            return "failed", "reward hack: " + str(error)
        except BaseException as error:  # noqa: BLE001 - every outcome is a verdict
            return _exception_status(error), _exception_detail(error)
        return "passed", ""

    def run_check(self, namespace: dict, test_namespace: dict, guard: _Guard, snapshot) -> None:
        job = self.job
        started = self._clock()
        code = _test_code(job["test_code"], "<test>")
        if isinstance(code, str):
            self.finish_test(0, "error:SyntaxError", "in test code: " + code, started, snapshot)
            return
        entry = job["entry_point"]
        if entry not in namespace:
            self.finish_test(0, "error:NameError", f"the program defines no {entry!r}", started, snapshot)
            return
        test_namespace["__patflow_candidate__"] = namespace[entry]
        call = compile("check(__patflow_candidate__)", "<check>", "exec")
        try:
            exec(code, test_namespace)  # noqa: S102
        except BaseException as error:  # noqa: BLE001
            self.finish_test(0, _exception_status(error), "in test code: " + _exception_detail(error), started, snapshot)
            return
        status, detail = self._judge(guard, call, test_namespace)
        self.finish_test(0, status, detail, started, snapshot)

    def run_asserts(self, test_namespace: dict, guard: _Guard, snapshot) -> None:
        for index in range(self.job["start"], len(self.job["asserts"])):
            started = self._clock()
            code = _test_code(self.job["asserts"][index], f"<test {index}>")
            if isinstance(code, str):
                self.finish_test(index, "error:SyntaxError", "in test code: " + code, started, snapshot)
                continue
            status, detail = self._judge(guard, code, test_namespace)
            self.finish_test(index, status, detail, started, snapshot)
            if status != "passed" and self.job.get("stop_on_first_failure"):
                return

    def run_calls(self, namespace: dict, snapshot) -> None:
        job = self.job
        entry = job["entry_point"]
        inputs = job["inputs"]
        function = namespace.get(entry)
        compact_large = job.get("compact_large", False)
        for index in range(job["start"], len(inputs)):
            started = self._clock()
            if function is None or not callable(function):
                self.finish_test(index, "error:NameError", f"the program defines no function {entry!r}", started, snapshot)
                continue
            try:
                args = pickle.loads(inputs[index])  # a fresh copy per call: solutions mutate inputs
                result = function(*args)
            except BaseException as error:  # noqa: BLE001
                self.finish_test(index, _exception_status(error), _exception_detail(error), started, snapshot)
                continue
            try:
                encoded = _output_record(result, self._dumps, compact_large)
            except Unencodable as error:
                self.finish_test(index, "error:UnencodableOutput", _truncate(str(error)), started, snapshot)
                continue
            except BaseException as error:  # noqa: BLE001
                self.finish_test(index, _exception_status(error), _exception_detail(error), started, snapshot)
                continue
            self.finish_test(index, "passed", "", started, snapshot, encoded)

    # --- stdin/stdout programs
    def run_stdio(self) -> None:
        """Each case: fresh globals, stdin a file on fd 0, stdout a file on fd 1."""
        job = self.job
        started = self._clock()
        try:
            code = compile(job["program"], SOLUTION_FILENAME, "exec")
        except (SyntaxError, ValueError) as error:
            self.emit("F", "syntax_error", _exception_detail(error), (self._clock() - started) * 1000)
            return
        self.emit("L", (self._clock() - started) * 1000)
        snapshot = _snapshot()
        saved_stdout_fd = os.dup(1)
        limit = job["output_bytes"]
        for index in range(job["start"], len(job["stdins"])):
            started = self._clock()
            stdin_path, stdout_path = f".stdin{index}", f".stdout{index}"
            status, detail, output = "passed", "", None
            try:
                with open(stdin_path, "w", encoding="utf-8") as handle:
                    handle.write(job["stdins"][index])
                stdin_fd = os.open(stdin_path, os.O_RDONLY)
                os.dup2(stdin_fd, 0)
                os.close(stdin_fd)
                stdout_fd = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(stdout_fd, 1)
                os.close(stdout_fd)
                sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
                sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
            except BaseException as error:  # noqa: BLE001
                self.finish_test(index, "error:SandboxIO", _exception_detail(error), started, snapshot)
                continue
            try:
                exec(code, {"__name__": "__main__", "__builtins__": builtins})  # noqa: S102
            except SystemExit as error:
                if error.code not in (None, 0):
                    status, detail = "error:SystemExit", f"exit code {error.code!r}"
            except BaseException as error:  # noqa: BLE001
                status, detail = _exception_status(error), _exception_detail(error)
            try:
                sys.stdout.flush()
            except BaseException as error:  # noqa: BLE001
                if status == "passed":
                    status, detail = _exception_status(error), _exception_detail(error)
            try:
                os.dup2(saved_stdout_fd, 1)
                sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
                size = os.path.getsize(stdout_path)
                if size > limit:
                    status, detail = "output_limit", f"more than {limit} bytes on stdout ({size})"
                elif status == "passed":
                    with open(stdout_path, "rb") as handle:
                        output = handle.read().decode("utf-8", errors="replace")
                os.unlink(stdout_path)
                os.unlink(stdin_path)
            except BaseException as error:  # noqa: BLE001
                if status == "passed":
                    status, detail = "error:SandboxIO", _exception_detail(error)
            self.finish_test(index, status, detail, started, snapshot, _NO_OUTPUT if output is None else output)


# --------------------------------------------------------------------------- judge and candidate
# check_function / asserts tests run in a *judge* job; the candidate's program runs in a job of
# its own. Each call of the candidate from test code is a request over a stream socket between
# the two: pickled arguments in (the judge is trusted), JSON of the restricted codec out (see
# ``encode``), so only plain data, exception names and opaque handles ever reach the judge.
CANDIDATE_GONE_EXIT = 72  # the judge's exit code when the candidate's end closed mid-request
MALFORMED_REPLY_EXIT = 73  # ... when the candidate sent something that is not a reply
CHANNEL_MAX_BYTES = 256 * 1024 * 1024
_MUTABLE = (list, dict, set, bytearray)
_NO_IMPORT = frozenset({"antigravity", "this", "idlelib", "turtledemo", "tkinter", "turtle"})


class Malformed(ValueError):
    """Data that is not in the restricted codec's form."""


def decode_plain(data, depth: int = 0):
    """The restricted codec's tagged JSON form -> the value (plain data only, never evaluated)."""
    if depth > 250:
        raise Malformed("nested too deeply")
    kind = type(data)
    if data is None or kind is bool or kind is int or kind is float or kind is str:
        return data
    if kind is not list or not data or type(data[0]) is not str:
        raise Malformed(f"unexpected {kind.__name__}")
    tag = data[0]
    try:
        if tag in ("l", "t", "s", "z") and len(data) == 2 and type(data[1]) is list:
            items = data[1]
            if not set(map(type, items)) <= _JSON_EXACT:  # plain items decode to themselves
                items = [decode_plain(item, depth + 1) for item in items]
            return _CONTAINER_TAGS[tag](items)
        if tag == "d" and len(data) == 2 and type(data[1]) is list:
            result = {}
            for pair in data[1]:
                if type(pair) is not list or len(pair) != 2:
                    raise Malformed("bad dict item")
                result[decode_plain(pair[0], depth + 1)] = decode_plain(pair[1], depth + 1)
            return result
        if tag in ("b", "y") and len(data) == 2 and type(data[1]) is str:
            raw = base64.b64decode(data[1], validate=True)
            return raw if tag == "b" else bytearray(raw)
        if tag == "c" and len(data) == 3:
            real, imag = decode_plain(data[1], depth + 1), decode_plain(data[2], depth + 1)
            if type(real) not in (int, float) or type(imag) not in (int, float):
                raise Malformed("bad complex")
            return complex(real, imag)
        if tag == "i" and len(data) == 2 and type(data[1]) is str:
            return int(data[1], 16)
        if tag == "f" and len(data) == 2 and data[1] in ("nan", "inf", "-inf"):
            return float(data[1])
    except (TypeError, ValueError) as error:  # unhashable set items, bad base64, bad hex
        raise Malformed(str(error)) from error
    raise Malformed(f"unknown tag {tag!r}")


_CONTAINER_TAGS = {"l": list, "t": tuple, "s": set, "z": frozenset}


class Channel:
    """Length-prefixed frames over one end of the judge <-> candidate socket.

    Requests and answers alternate, so one read usually brings a whole frame.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending = b""

    def send(self, data: bytes) -> None:
        _write_all(self.fd, len(data).to_bytes(4, "big") + data)

    def recv(self, limit: int) -> bytes | None:
        """The next frame; None at end of stream. Raises Malformed on a frame over ``limit``."""
        data = self.pending
        read = os.read
        while len(data) < 4:
            chunk = read(self.fd, 1 << 16)
            if not chunk:
                return None
            data += chunk
        size = int.from_bytes(data[:4], "big")
        if size > limit:
            raise Malformed(f"a frame of {size} bytes")
        end = 4 + size
        if len(data) < end:
            chunks = [data]
            have = len(data)
            while have < end:
                chunk = read(self.fd, max(end - have, 1 << 16))
                if not chunk:
                    return None
                chunks.append(chunk)
                have += len(chunk)
            data = b"".join(chunks)
        self.pending = data[end:]
        return data[4:end]


class _HandleUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, handles: list) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self.handles = handles

    def persistent_load(self, pid):
        return self.handles[pid]


def run_candidate(runner: "Runner") -> None:
    """The candidate's side: load the program, then answer the judge's requests until EOF.

    Nothing here is trusted: a reply is only ever parsed by the judge as plain data.
    """
    job = runner.job
    channel = Channel(runner.result_fd)
    dumps = runner._dumps
    owner = runner.owner_pid
    getpid = os.getpid

    def send(reply) -> None:
        if getpid() != owner:
            os._exit(0)  # a forked copy never answers
        try:
            line = dumps(reply)
        except BaseException as error:  # noqa: BLE001
            line = dumps(["X", type(error).__name__, _truncate(str(error))])
        channel.send(line.encode())

    namespace = {"__name__": SOLUTION_MODULE, "__builtins__": builtins}
    failure = runner.load(namespace)
    if failure is not None:
        send(["F", failure[0], failure[1]])
        return
    handles: list = []

    def describe(value):
        try:
            return ["v", encode(value)]
        except Unencodable:
            pass
        if type(value) is type(builtins):
            name = getattr(value, "__name__", None)
            if type(name) is str:
                return ["m", name]
        handles.append(value)
        return ["h", len(handles) - 1, _truncate(type(value).__qualname__, 80)]

    names = {}
    for name in job["names"]:
        if name in namespace:
            try:
                names[name] = describe(namespace[name])
            except BaseException as error:  # noqa: BLE001
                send(["F", _exception_status(error), "while describing " + name + ": " + _exception_detail(error)])
                return
    send(["L", names])
    while True:
        try:
            data = channel.recv(CHANNEL_MAX_BYTES)
        except (OSError, Malformed):
            return
        if data is None:
            return
        try:
            try:
                op, target, args, kwargs = pickle.loads(data)
            except pickle.UnpicklingError:  # the arguments hold handles: resolve them
                op, target, args, kwargs = _HandleUnpickler(data, handles).load()
            if not 0 <= target < len(handles):
                raise LookupError("no such object")
            obj = handles[target]
            if op == "c":
                result = obj(*args, **kwargs)
                mutated = []
                for position, argument in enumerate(args):
                    if type(argument) in _MUTABLE:
                        try:
                            mutated.append([position, encode(argument)])
                        except Unencodable:
                            pass
                reply = ["R", describe(result), mutated]
            elif op == "i":
                reply = ["I", [describe(item) for item in obj]]
            elif op == "a":
                reply = ["R", describe(getattr(obj, args)), []]
            elif op == "s":
                reply = ["R", ["v", str(obj)], []]
            elif op == "n":
                reply = ["R", ["v", len(obj)], []]
            else:
                reply = ["X", "ValueError", "unknown request"]
        except BaseException as error:  # noqa: BLE001 - every outcome is an answer
            try:
                message = _truncate(str(error))
            except BaseException:  # noqa: BLE001
                message = ""
            reply = ["X", type(error).__name__, message]
        send(reply)


def serve_judgements(feed_fd: int) -> None:
    """A judge that serves many executions, one at a time (the parent keeps a pool of them).

    Each execution arrives on the feed socket as three descriptors: its payload (test code and
    nonce), its record pipe and its end of the candidate's socket. Test code runs in a fresh
    namespace per execution; the judge never runs candidate code, so nothing a candidate does
    outlives its execution here. Any way out of a run other than its "done" record (the
    candidate gone, a malformed answer, an error in the runner) ends this process, and the
    parent does not reuse it.
    """
    feed = socket.socket(fileno=feed_fd)
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(feed, 16, 3)
        except OSError:
            os._exit(0)
        if not message:
            os._exit(0)  # the parent closed the pool
        if len(fds) != 3:
            os._exit(0)
        payload_fd, result_fd, channel_fd = fds
        try:
            job = _read_payload(payload_fd)
            job["channel_fd"] = channel_fd
            Runner(job, result_fd).run()
        except BaseException:  # noqa: BLE001 - the parent reports what was not reported
            os._exit(0)
        os.close(result_fd)
        os.close(channel_fd)


class CandidateObject:
    """An object that lives in the candidate's process, seen from the judge.

    Opaque: calling it, iterating over it, ``str()``, ``len()`` or reading a public attribute
    is a request to the candidate that returns plain data or another handle; it equals only
    itself, and asking for its truth value is an error (a handle is never a verdict).
    """

    __slots__ = ("_link", "_id", "_type")

    def __init__(self, link: "CandidateLink", handle_id: int, type_name: str) -> None:
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_id", handle_id)
        object.__setattr__(self, "_type", type_name)

    def __call__(self, *args, **kwargs):
        return self._link.call(self, args, kwargs)

    def __iter__(self):
        return iter(self._link.iterate(self))

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._link.attribute(self, name)

    def __str__(self) -> str:
        text = self._link.attribute(self, None, op="s")
        if type(text) is not str:
            raise TypeError("str() of a candidate's object must be a str")
        return text

    def __len__(self) -> int:
        size = self._link.attribute(self, None, op="n")
        if type(size) is not int or size < 0:
            raise TypeError("len() of a candidate's object must be a non-negative int")
        return size

    def __setattr__(self, name, value):
        raise TypeError("objects of the candidate's process are read-only here")

    def __bool__(self):
        raise TypeError(f"the truth of a {self._type} from the candidate's program is not a verdict")

    def __repr__(self) -> str:
        return f"<a {self._type} from the candidate's process>"

    def __reduce__(self):
        raise _HasHandle


class _HasHandle(Exception):
    pass


class CandidateLink:
    """The judge's end of the channel: requests out, plain data (or handles) back.

    A closed channel or a malformed reply ends the judge at once (exit codes above): no test
    code can catch that, and the parent reports the test from the candidate's exit status.
    """

    def __init__(self, fd: int) -> None:
        self.channel = Channel(fd)
        self._foreign: dict[str, type] = {}

    def receive(self):
        try:
            data = self.channel.recv(CHANNEL_MAX_BYTES)
        except Malformed:
            os._exit(MALFORMED_REPLY_EXIT)
        except OSError:
            data = None
        if data is None:
            os._exit(CANDIDATE_GONE_EXIT)
        try:
            reply = json.loads(data)
        except ValueError:
            os._exit(MALFORMED_REPLY_EXIT)
        if type(reply) is not list or not reply or type(reply[0]) is not str:
            os._exit(MALFORMED_REPLY_EXIT)
        return reply

    def request(self, op: str, target: CandidateObject, args, kwargs):
        message = (op, target._id, args, kwargs)
        try:
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        except _HasHandle:
            data = self._pickle_with_handles(message)
        self.channel.send(data)
        reply = self.receive()
        if reply[0] == "X" and len(reply) == 3:
            raise self.exception(reply[1], reply[2])
        return reply

    @staticmethod
    def _pickle_with_handles(message) -> bytes:
        import io

        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = lambda obj: obj._id if type(obj) is CandidateObject else None
        pickler.dump(message)
        return buffer.getvalue()

    def call(self, target: CandidateObject, args: tuple, kwargs: dict):
        reply = self.request("c", target, args, kwargs)
        if reply[0] != "R" or len(reply) != 3 or type(reply[2]) is not list:
            os._exit(MALFORMED_REPLY_EXIT)
        value = self.value(reply[1])
        for item in reply[2]:
            self._write_back(args, item)
        return value

    def iterate(self, target: CandidateObject) -> list:
        reply = self.request("i", target, (), {})
        if reply[0] != "I" or len(reply) != 2 or type(reply[1]) is not list:
            os._exit(MALFORMED_REPLY_EXIT)
        return [self.value(item) for item in reply[1]]

    def attribute(self, target: CandidateObject, name: str | None, op: str = "a"):
        """A public attribute (``a``), ``str()`` (``s``) or ``len()`` (``n``) of a handle."""
        reply = self.request(op, target, name, {})
        if reply[0] != "R" or len(reply) != 3:
            os._exit(MALFORMED_REPLY_EXIT)
        return self.value(reply[1])

    def value(self, description):
        """A reply's value: plain data, a stdlib module imported here, or a handle."""
        if type(description) is list and description:
            tag = description[0]
            try:
                if tag == "v" and len(description) == 2:
                    return decode_plain(description[1])
            except Malformed:
                os._exit(MALFORMED_REPLY_EXIT)
            if tag == "h" and len(description) == 3 and type(description[1]) is int and type(description[2]) is str:
                return CandidateObject(self, description[1], description[2][:80])
            if tag == "m" and len(description) == 2 and type(description[1]) is str:
                return self._module(description[1])
        os._exit(MALFORMED_REPLY_EXIT)

    def _module(self, name: str):
        """The judge's own copy of a module the program imported (standard library or loaded here)."""
        top = name.partition(".")[0]
        if name in sys.modules or (top in getattr(sys, "stdlib_module_names", ()) and top not in _NO_IMPORT):
            import importlib

            try:
                return importlib.import_module(name)
            except BaseException:  # noqa: BLE001
                pass
        return CandidateObject(self, -1, "module " + name[:60])

    def exception(self, name, message) -> BaseException:
        """The exception a candidate raised, rebuilt here from its name and message only."""
        if type(name) is not str or not name.isidentifier() or len(name) > 100 or type(message) is not str:
            os._exit(MALFORMED_REPLY_EXIT)
        message = message[:DETAIL_CHARS]
        cls = getattr(builtins, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            try:
                return cls(message) if message else cls()
            except BaseException:  # noqa: BLE001 - e.g. UnicodeDecodeError needs five arguments
                pass
        if name not in self._foreign:
            self._foreign[name] = type(name, (Exception,), {"__module__": "candidate"})
        return self._foreign[name](message)

    @staticmethod
    def _write_back(args: tuple, item) -> None:
        """An argument the candidate mutated in place: the judge's copy is updated to match."""
        if type(item) is not list or len(item) != 2 or type(item[0]) is not int or not 0 <= item[0] < len(args):
            os._exit(MALFORMED_REPLY_EXIT)
        target = args[item[0]]
        try:
            new = decode_plain(item[1])
        except Malformed:
            os._exit(MALFORMED_REPLY_EXIT)
        if type(new) is not type(target):
            return
        if type(target) in (list, bytearray):
            target[:] = new
        else:
            target.clear()
            target.update(new)


_LOAD_STATUSES = frozenset({"syntax_error", "memory_exceeded"})


def _load_status(status) -> str:
    """A load failure's status as the candidate reported it, never ``passed``."""
    if type(status) is str and (status in _LOAD_STATUSES or (status.startswith("error:") and status[6:].isidentifier())):
        return status
    return "no_result"


# --------------------------------------------------------------------------- isolation
WORK_DIR = "/tmp/work"  # in the sandbox's own /tmp: working-directory slots (fork server) or the job's tmpfs (spawn)


def _kept_paths(under: str, candidates) -> list[str]:
    """The existing directories among ``candidates`` inside ``under``, outermost only."""
    found = sorted({path for path in candidates if path.startswith(under + "/") and os.path.isdir(path)})
    return [path for path in found if not any(path.startswith(other + "/") for other in found)]


def _cover_keeping(target: str, options: str, keep: list[str], holds_dir: str) -> None:
    """Mount an empty tmpfs on ``target``; the directories in ``keep`` (inside it) stay, read-only.

    Each kept directory is bind-mounted aside (into ``holds_dir``, which must not be inside
    ``target``), the tmpfs goes on, and the directory is re-created there and bound back.
    """
    holds = []
    for i, path in enumerate(keep):
        hold = f"{holds_dir}/.hold{i}"
        os.mkdir(hold)
        mount(path, hold, None, MS_BIND | MS_REC)
        holds.append((hold, path))
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for hold, path in holds:
        os.makedirs(path, exist_ok=True)
        mount(hold, path, None, MS_BIND | MS_REC)
        mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        umount(hold)
        os.rmdir(hold)


def setup_namespace_mounts(site_packages=()) -> None:
    """As root in fresh mount + pid namespaces: the file system every job then sees.

    The host's root file system becomes read-only (no job can write to the host disk, its
    home or the project), /proc shows only this pid namespace (hidepid=2: only one's own
    processes), /tmp and /dev/shm are small private tmpfs that only root can write, and the
    home of root is hidden. Kept, read-only, inside /tmp and root's home: the interpreter and
    the site-packages directories programs import installed libraries from (a virtualenv in a
    checkout under /tmp, or a pyenv under /root), and nothing else of those trees.
    """
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    interpreter = (sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable)))
    wanted = [os.path.realpath(path) for path in (*interpreter, *site_packages)]
    holds_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
    if holds_dir:
        # /dev/shm's own tmpfs first: it holds /tmp's kept directories while /tmp is covered.
        mount("tmpfs", holds_dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,mode=755")
    tmp_keep = _kept_paths("/tmp", wanted) if holds_dir else []
    _cover_keeping("/tmp", "size=4m,mode=755", tmp_keep, holds_dir or "/")
    if os.path.isdir("/root"):
        _cover_keeping("/root", "size=1m,mode=755", _kept_paths("/root", wanted), "/tmp")
    os.mkdir(WORK_DIR, 0o755)


def work_dir_size_mb(file_size_mb: int) -> int:
    """Room in a job's private working directory (a tmpfs)."""
    return max(16, file_size_mb * 4)


def mount_job_tmpfs(limits: dict, uid: int) -> None:
    """The job's private working directory: a tmpfs of bounded size, owned by the job's uid."""
    size_mb = work_dir_size_mb(limits["file_size_mb"])
    mount("tmpfs", WORK_DIR, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=700,uid={uid},gid={uid}")


class WorkDirSlots:
    """Private working directories for the fork server's jobs, reused instead of made per job.

    Each slot is its own tmpfs (so its size is the job's bound and a full disk is the job's
    alone) under the server's /tmp/work, mode 700 and handed to the job's own uid: a job
    cannot enter another's. A slot is wiped when its job is over and all its processes are
    gone. A slot costs a chown and a directory scan; a fresh mount namespace and tmpfs per job
    cost their set-up and, at the job's exit, the namespace's teardown.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.free: list[tuple[str, int]] = []  # (path, size_mb)
        self.created = 0

    def take(self, size_mb: int, uid: int) -> tuple[str, int]:
        slot = next((s for s in self.free if s[1] == size_mb), None)
        if slot is not None:
            self.free.remove(slot)
            path = slot[0]
        elif self.free:
            path, _ = self.free.pop()
            mount(None, path, None, MS_REMOUNT | MS_NOSUID | MS_NODEV, f"size={size_mb}m")
        else:
            self.created += 1
            path = f"{self.root}/{self.created}"
            os.mkdir(path, 0o700)
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=700")
        os.chown(path, uid, uid)
        return path, size_mb

    def release(self, slot: tuple[str, int]) -> None:
        path, size_mb = slot
        try:
            os.chown(path, 0, 0)
            leftovers = list(os.scandir(path))
            if len(leftovers) <= 16 and all(entry.is_file(follow_symlinks=False) for entry in leftovers):
                for entry in leftovers:  # a few files (a stdio job's stdin/stdout): delete them
                    os.unlink(entry.path)
            else:  # anything else: a fresh tmpfs is quicker and surer than a deep delete
                umount(path)
                mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=700")
        except OSError:
            return  # a slot that cannot be reset is not reused
        self.free.append(slot)


def _apply_rlimits(limits: dict) -> None:
    def set_limit(kind: int, value: int) -> None:
        resource.setrlimit(kind, (value, value))

    set_limit(resource.RLIMIT_CORE, 0)
    set_limit(resource.RLIMIT_CPU, max(1, int(math.ceil(limits["cpu_s"]))))
    set_limit(resource.RLIMIT_FSIZE, limits["file_size_mb"] * 1024 * 1024)
    set_limit(resource.RLIMIT_NOFILE, max(limits["open_files"], 16))
    set_limit(resource.RLIMIT_NPROC, limits["max_processes"])
    set_limit(resource.RLIMIT_AS, limits["memory_mb"] * 1024 * 1024)


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:  # pragma: no cover - would mean the drop did not happen
        raise RuntimeError("privilege drop failed: setuid(0) succeeded")
    if 0 in os.getresuid() or 0 in os.getresgid():
        raise RuntimeError("privilege drop failed: still uid/gid 0")


def _total_memory_bytes() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 4 << 30


def _job_uid(seed: int) -> int:
    return SANDBOX_UID_BASE + seed % SANDBOX_UID_SPAN


def _read_payload(payload_fd: int) -> dict:
    os.lseek(payload_fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(payload_fd, 1 << 20):
        chunks.append(chunk)
    os.close(payload_fd)
    return pickle.loads(b"".join(chunks))  # written by the trusted parent


def _report_setup_failure(job: dict | None, result_fd: int, error: BaseException) -> None:
    try:
        nonce = job["nonce"] if job else ""
        line = json.dumps([nonce, "E", f"sandbox set-up failed: {type(error).__name__}: {error}"])
        _write_all(result_fd, line.encode() + b"\n")
    finally:
        os._exit(71)


def _enter_job_baseline() -> None:
    """What every job inherits from the process that forks it, set once there.

    The environment jobs see (HOME and TMPDIR are added per job), and no_new_privs: no
    execve can gain privileges (set-uid binaries) in this process or any descendant. Set in
    the zygote, jobs skip a ctypes call and an environment rebuild each (page faults after
    the fork).
    """
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"})
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def _enter_and_run(job: dict, result_fd: int, out_fd: int, work: str, uid: int | None, channel_fd: int | None = None) -> None:
    """Last steps in the sandboxed process (as root until the drop), then the runner. Never returns.

    ``channel_fd``: a judge's end of the socket to its candidate's job.
    """
    try:
        if channel_fd is not None:
            # Not dumpable: a candidate of the same uid (no privilege drop) cannot ptrace this
            # process or open its /proc/<pid>/{mem,fd}; set before anything is read.
            prctl(PR_SET_DUMPABLE, 0)
            job["channel_fd"] = channel_fd
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
            _signal.signal(sig, _signal.SIG_DFL)  # the C function: no enum conversion per call
        limits = job["limits"]
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        keep = sorted({0, 1, 2, result_fd} | ({channel_fd} if channel_fd is not None else set()))
        for low, high in zip(keep, keep[1:] + [65536]):
            os.closerange(low + 1, high)
        os.environ["HOME"] = os.environ["TMPDIR"] = work  # the rest: _enter_job_baseline()
        os.chdir(work)
        if uid is not None:
            _drop_privileges(uid)
        _apply_rlimits(limits)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
    except BaseException as error:  # noqa: BLE001
        _report_setup_failure(job, result_fd, error)
    try:
        Runner(job, result_fd).run()
    except BaseException:  # noqa: BLE001 - the parent reports what was not reported
        pass
    os._exit(0)


# --- cgroups (v1 pids + memory), one per job under one directory per server
def _cgroup_roots() -> dict[str, str]:
    roots = {}
    try:
        with open("/proc/self/cgroup") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return roots
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(","):
            if controller in ("pids", "memory"):
                path = f"/sys/fs/cgroup/{controller}{parts[2].rstrip('/')}"
                if os.path.isdir(path):
                    roots[controller] = path
    return roots


class JobCgroups:
    """Creates, fills and sweeps per-job cgroups. ``available`` says whether it works here."""

    def __init__(self, name: str) -> None:
        self.base: dict[str, str] = {}
        self.error = ""
        roots = _cgroup_roots()
        if set(roots) != {"pids", "memory"}:
            self.error = "no v1 pids and memory controllers in /proc/self/cgroup"
            return
        try:
            for controller, root in roots.items():
                path = f"{root}/{name}"
                os.makedirs(path, exist_ok=True)
                self.base[controller] = path
        except OSError as error:
            self.error = f"cannot create a cgroup: {error}"
            self.remove_base()
            self.base = {}

    @property
    def available(self) -> bool:
        return bool(self.base)

    def create(self, job_id: int) -> dict[str, str]:
        paths = {}
        for controller, base in self.base.items():
            path = f"{base}/j{job_id}"
            os.mkdir(path)
            paths[controller] = path
        return paths

    def limit_and_enter_base(self, pids_max: int, memory_bytes: int) -> None:
        """Backstop for all jobs of this server together: the zygote moves itself in."""
        with open(self.base["pids"] + "/pids.max", "w") as handle:
            handle.write(str(pids_max))
        with open(self.base["memory"] + "/memory.limit_in_bytes", "w") as handle:
            handle.write(str(memory_bytes))
        for path in self.base.values():
            with open(path + "/cgroup.procs", "w") as handle:
                handle.write(str(os.getpid()))

    @staticmethod
    def join(paths: dict[str, str], limits: dict) -> None:
        """In the job process, still root: set the limits, then move itself in."""
        with open(paths["pids"] + "/pids.max", "w") as handle:
            handle.write(str(limits["max_processes"]))
        with open(paths["memory"] + "/memory.limit_in_bytes", "w") as handle:
            handle.write(str(limits["memory_mb"] * 1024 * 1024))
        me = str(os.getpid())
        for path in paths.values():
            with open(path + "/cgroup.procs", "w") as handle:
                handle.write(me)

    @staticmethod
    def kill_all(paths: dict[str, str]) -> None:
        procs = paths.get("pids", "") + "/cgroup.procs"
        for _ in range(100):
            try:
                with open(procs) as handle:
                    pids = [int(x) for x in handle.read().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.001)

    @staticmethod
    def oom_kills(paths: dict[str, str]) -> int:
        try:
            with open(paths["memory"] + "/memory.oom_control") as handle:
                for line in handle:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
            with open(paths["memory"] + "/memory.failcnt") as handle:
                return 1 if int(handle.read().strip() or 0) else 0
        except (OSError, ValueError, KeyError):
            return 0
        return 0

    @staticmethod
    def remove(paths: dict[str, str]) -> None:
        for path in paths.values():
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.002)

    @staticmethod
    def remove_leftovers(name: str) -> None:
        for controller, root in _cgroup_roots().items():
            path = f"{root}/{name}"
            if os.path.isdir(path):
                for entry in os.listdir(path):
                    if entry.startswith("j"):
                        JobCgroups.kill_all({"pids": f"{path}/{entry}"} if controller == "pids" else {})
                        JobCgroups.remove({controller: f"{path}/{entry}"})
                try:
                    os.rmdir(path)
                except OSError:
                    pass

    def remove_base(self) -> None:
        for path in self.base.values():
            try:
                for entry in os.listdir(path):
                    if entry.startswith("j"):
                        try:
                            os.rmdir(f"{path}/{entry}")
                        except OSError:
                            pass
                os.rmdir(path)
            except OSError:
                pass


def _kill_descendants() -> None:
    """Without namespaces: as a subreaper, kill and reap whatever the job left behind."""
    for _ in range(50):
        children = _children_of(os.getpid())
        if not children:
            break
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _pid in children:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break


def _schedstat(pid: int) -> tuple[int, int]:
    """(ns on a CPU, ns runnable but waiting for one) over the life of ``pid``'s threads."""
    on_cpu = waiting = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as handle:
                fields = handle.read().split()
            on_cpu += int(fields[0])
            waiting += int(fields[1])
    except (OSError, ValueError, IndexError):
        return -1, -1
    return on_cpu, waiting


def _children_of(pid: int) -> list[int]:
    result: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                result.extend(int(x) for x in handle.read().split())
    except OSError:
        pass
    return result


def keeper(payload_fd: int, result_fd: int, out_fd: int, config: dict, channel_fd: int | None = None) -> None:
    """Spawn mode: one fresh interpreter per job. Enter the namespaces, fork the job, wait."""
    job = _read_payload(payload_fd)
    drop = os.getuid() == 0 and config.get("drop_uid", True)
    namespaced = False
    if config.get("namespaces", True):
        try:
            unshare(CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)
            namespaced = True
        except OSError:
            namespaced = False
    work_dir = None
    if not namespaced:
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        import tempfile

        work_dir = tempfile.mkdtemp(prefix="patflow-sandbox-")
    uid = _job_uid(os.getpid()) if drop else None
    _enter_job_baseline()
    pid = os.fork()
    if pid == 0:
        try:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if namespaced:
                setup_namespace_mounts(config.get("site_packages", ()))
                mount_job_tmpfs(job["limits"], uid if uid is not None else 0)
                work = WORK_DIR
            else:
                work = work_dir
                if uid is not None:
                    os.chown(work, uid, uid)
        except BaseException as error:  # noqa: BLE001
            _report_setup_failure(job, result_fd, error)
        _enter_and_run(job, result_fd, out_fd, work, uid, channel_fd)
    os.close(result_fd)
    os.close(out_fd)
    if channel_fd is not None:
        os.close(channel_fd)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if not namespaced:
        _kill_descendants()
        if work_dir:
            import shutil

            shutil.rmtree(work_dir, ignore_errors=True)
    if os.WIFSIGNALED(status):
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 99)


# --------------------------------------------------------------------------- entry points
def _preimport() -> None:
    import importlib

    for name in PREIMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


_WARM_UP_PROGRAM = """
import math
class _Point:
    def __init__(self, x): self.x = x
def _f(values, *, key=None):
    squares = [v * v for v in values if v]
    pairs = {k: v for k, v in zip(values, squares)}
    try:
        assert sum(squares) >= 0, f"{len(pairs)!r}"
    except AssertionError as error:
        raise ValueError(str(error)) from None
    return lambda: (_Point(max(squares)), math.sqrt(2), pairs)
"""


def _warm_up() -> None:
    """Do once in the zygote what every job would otherwise do first, each in its own child.

    The first ``compile()`` in a process builds CPython's ~120 AST node classes (in 3.11,
    ``compile``'s ``PyAST_Check`` initialises them): the largest single cost of a job before
    this warm-up. JSON encoding and exception formatting have first-use costs too. Done here,
    forked jobs share the result.
    """
    namespace: dict = {"__name__": "__warm_up__"}
    exec(compile(_WARM_UP_PROGRAM, "<warm-up>", "exec"), namespace)  # noqa: S102 - our own code
    namespace["_f"]([1, 2, 3])()
    marshal.loads(marshal.dumps(compile("check(candidate)", "<warm-up>", "exec")))
    _record_encoder()(["warm", 1, 1.5, None, [True], ""])
    try:
        raise ValueError("warm-up")
    except ValueError as error:
        _exception_detail(error)


def _probe_config() -> dict:
    """Which layers this machine allows, tried in a throwaway child."""
    report: dict[str, str] = {}
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        result: dict[str, str] = {}
        try:
            unshare(CLONE_NEWNET)
            result["network namespace"] = "active"
        except OSError as error:
            result["network namespace"] = f"unavailable: {error}"
        try:
            unshare(CLONE_NEWPID | CLONE_NEWNS)
            result["pid namespace"] = "active"
            result["mount namespace"] = "active"
        except OSError as error:
            result["pid namespace"] = f"unavailable: {error}"
            result["mount namespace"] = f"unavailable: {error}"
        _write_all(write_end, json.dumps(result).encode())
        os._exit(0)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 65536):
        data += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    report.update(json.loads(data or b"{}"))
    return report


def probe() -> dict[str, str]:
    report = _probe_config()
    report["rlimits"] = "active"
    if os.getuid() == 0:
        cgroups = JobCgroups(f"patflow-probe-{os.getpid()}")
        report["cgroup"] = "active (per-job pids + memory)" if cgroups.available else f"unavailable: {cgroups.error}"
        cgroups.remove_base()
    else:
        report["cgroup"] = "unavailable: creating cgroups needs root"
    if os.getuid() == 0:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                os.setgroups([])
                os.setresgid(SANDBOX_UID_BASE, SANDBOX_UID_BASE, SANDBOX_UID_BASE)
                os.setresuid(SANDBOX_UID_BASE, SANDBOX_UID_BASE, SANDBOX_UID_BASE)
                try:
                    os.setuid(0)
                    message = "unavailable: setuid(0) still works after the drop"
                except PermissionError:
                    message = f"active (runs as uid {SANDBOX_UID_BASE}+)"
            except OSError as error:
                message = f"unavailable: {error}"
            _write_all(write_end, message.encode())
            os._exit(0)
        os.close(write_end)
        data = b""
        while chunk := os.read(read_end, 65536):
            data += chunk
        os.close(read_end)
        os.waitpid(pid, 0)
        report["privilege drop"] = data.decode() or "unavailable: probe failed"
    else:
        report["privilege drop"] = "unavailable: not running as root (already unprivileged)"
    return report


def serve(master_fd: int, config: dict) -> None:
    """The warm fork server. Enters the namespaces once, then forks a job per request.

    The launched interpreter unshares (net, pid, mount, ipc, uts) and forks the *zygote*,
    pid 1 of the new pid namespace: it sets up the shared file-system view, imports what
    tests need, and then forks one process per job. Jobs are never forked from a process
    that has threads. When the parent closes its socket (or dies) the zygote exits, and the
    kernel kills everything left in the namespace.
    """
    if os.getsid(0) != os.getpid():
        os.setsid()
    launcher_pid = os.getpid()
    namespaced = False
    namespace_error = "disabled"
    if config.get("namespaces", True):
        try:
            unshare(CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)
            namespaced = True
        except OSError as error:
            namespace_error = str(error)
    if not namespaced:
        _zygote(master_fd, config, launcher_pid, namespaced=False, namespace_error=namespace_error)
    pid = os.fork()
    if pid == 0:
        _zygote(master_fd, config, launcher_pid, namespaced=True, namespace_error="")
    os.close(master_fd)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    os._exit(0)


def _zygote(master_fd: int, config: dict, launcher_pid: int, *, namespaced: bool, namespace_error: str) -> None:
    import selectors

    master = socket.socket(fileno=master_fd)
    drop = os.getuid() == 0 and config.get("drop_uid", True)
    try:
        if namespaced:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            setup_namespace_mounts(config.get("site_packages", ()))
        else:
            prctl(PR_SET_CHILD_SUBREAPER, 1)
        _enter_job_baseline()
    except OSError as error:
        master.sendall(json.dumps({"ready": False, "error": f"namespace set-up failed: {error}"}).encode())
        os._exit(3)
    use_cgroups = os.getuid() == 0 and config.get("cgroup", True)
    cgroups = JobCgroups(f"patflow-sandbox-{launcher_pid}") if use_cgroups else None
    cgroup_line = "unavailable: disabled by PATFLOW_SANDBOX_CGROUP=0" if os.getuid() == 0 and not use_cgroups else ""
    cgroup_line = cgroup_line or f"unavailable: {cgroups.error if cgroups else 'creating cgroups needs root'}"
    if cgroups is not None and cgroups.available:
        try:
            memory_bytes = max(2 << 30, _total_memory_bytes() // 2)
            cgroups.limit_and_enter_base(SERVER_PIDS_MAX, memory_bytes)
            if config.get("job_cgroups"):
                cgroup_line = "active (per-job pids + memory, inside this server's backstop)"
            else:
                cgroup_line = (
                    f"active (this server's jobs share pids.max={SERVER_PIDS_MAX} and a "
                    f"{memory_bytes >> 20} MB memory limit; per-job limits are rlimits)"
                )
        except OSError as error:
            cgroup_line = f"unavailable: {error}"
            cgroups.remove_base()
            cgroups = None
    job_cgroups = cgroups if cgroups is not None and config.get("job_cgroups") else None
    _preimport()
    _warm_up()
    global _WARM_SNAPSHOT
    _WARM_SNAPSHOT = Snapshot()
    gc.collect()
    gc.freeze()  # children share the server's pages instead of copying them on their first GC
    layers = {
        "namespaces": "active" if namespaced else f"unavailable: {namespace_error}",
        "cgroup": cgroup_line,
        "privilege drop": "active" if drop else "unavailable: not running as root",
    }
    try:
        master.sendall(json.dumps({"ready": True, "layers": layers}).encode())
    except OSError:
        os._exit(0)
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(master, selectors.EVENT_READ, "master")
    selector.register(wake_read, selectors.EVENT_READ, "wake")

    jobs: dict[int, dict] = {}  # pid -> {"control": socket, "cgroups": paths, "work": dir, "slot": slot}
    slots = WorkDirSlots(WORK_DIR)
    by_control: dict[int, int] = {}
    counter = 0

    def sweep(job: dict) -> int:
        oom = 0
        if job["cgroups"]:
            JobCgroups.kill_all(job["cgroups"])
            oom = JobCgroups.oom_kills(job["cgroups"])
            JobCgroups.remove(job["cgroups"])
        if job["work"]:
            import shutil

            shutil.rmtree(job["work"], ignore_errors=True)
        if job["slot"]:
            slots.release(job["slot"])
        return oom

    def sweep_orphans() -> None:
        """Kill what jobs left behind: orphans are re-parented to us (pid 1 or subreaper)."""
        for _ in range(50):
            orphans = [pid for pid in _children_of(os.getpid()) if pid not in jobs]
            if not orphans:
                return
            for orphan in orphans:
                try:
                    os.kill(orphan, signal.SIGKILL)
                except OSError:
                    pass
            deadline = time.monotonic() + 0.05
            for orphan in orphans:
                while time.monotonic() < deadline:
                    try:
                        done, _ = os.waitpid(orphan, os.WNOHANG)
                    except ChildProcessError:
                        break
                    if done:
                        break
                    time.sleep(0.0005)

    def finish(pid: int, status: int) -> None:
        job = jobs.pop(pid, None)
        if job is None:
            return
        oom = sweep(job)  # orphans are already gone (see the wake-up loop)
        control = job["control"]
        by_control.pop(control.fileno(), None)
        try:
            selector.unregister(control)
        except (KeyError, ValueError):
            pass
        try:
            control.sendall(f"S{status} {oom}\n".encode())
        except OSError:
            pass
        control.close()

    def kill(pid: int) -> None:
        job = jobs.get(pid)
        if job is None:
            return
        for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                target()
            except OSError:
                pass
        if job["cgroups"]:
            JobCgroups.kill_all(job["cgroups"])

    def shutdown() -> None:
        for pid in list(jobs):
            kill(pid)
        for pid in list(jobs):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            sweep(jobs.pop(pid))
        if cgroups is not None:
            for path in cgroups.base.values():  # leave the base so that it can be removed
                parent = os.path.dirname(path)
                try:
                    with open(parent + "/cgroup.procs", "w") as handle:
                        handle.write(str(os.getpid()))
                except OSError:
                    pass
            cgroups.remove_base()
        os._exit(0)

    def start(message: bytes, fds: list[int]) -> None:
        nonlocal counter
        control_fd, payload_fd, result_fd, out_fd, *extra = fds
        channel_fd = extra[0] if extra else None
        counter += 1
        control = socket.socket(fileno=control_fd)
        paths: dict[str, str] = {}
        work = None
        slot = None
        uid = _job_uid(launcher_pid * 7919 + counter) if drop else None
        try:
            if job_cgroups is not None:
                paths = job_cgroups.create(counter)
            if namespaced:
                size_mb = int(message[1:]) if len(message) > 1 else work_dir_size_mb(0)
                slot = slots.take(size_mb, uid if uid is not None else 0)
            else:
                import tempfile

                work = tempfile.mkdtemp(prefix="patflow-sandbox-")
        except (OSError, ValueError):
            paths = {}
        pid = os.fork()
        if pid == 0:
            job = None
            try:
                _signal.set_wakeup_fd(-1)
                os.setsid()
                if channel_fd is not None:
                    prctl(PR_SET_DUMPABLE, 0)  # a judge: see _enter_and_run
                if not namespaced:  # in the pid namespace, the zygote's death kills every job
                    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                keep = sorted({payload_fd, result_fd, out_fd, *extra})
                for low, high in zip([2] + keep, keep + [65536]):
                    os.closerange(low + 1, high)
                job = _read_payload(payload_fd)
                if paths:
                    JobCgroups.join(paths, job["limits"])
                if namespaced:
                    if slot is None:
                        raise OSError("no private working directory could be set up")
                    job_work = slot[0]
                else:
                    job_work = work
                    if uid is not None:
                        os.chown(job_work, uid, uid)
            except BaseException as error:  # noqa: BLE001
                _report_setup_failure(job, result_fd, error)
            _enter_and_run(job, result_fd, out_fd, job_work, uid, channel_fd)
        for fd in (payload_fd, result_fd, out_fd, *extra):
            os.close(fd)
        jobs[pid] = {"control": control, "cgroups": paths, "work": work, "slot": slot}
        by_control[control.fileno()] = pid
        try:
            control.sendall(f"P{pid}\n".encode())
        except OSError:
            pass
        selector.register(control, selectors.EVENT_READ, "control")

    while True:
        for key, _ in selector.select():
            if key.data == "wake":
                try:
                    while os.read(wake_read, 4096):
                        pass
                except BlockingIOError:
                    pass
                ended = []
                while True:
                    try:
                        pid, status = os.waitpid(-1, os.WNOHANG)
                    except ChildProcessError:
                        break
                    if pid == 0:
                        break
                    ended.append((pid, status))
                # Whatever the ended jobs left behind dies before their slots are wiped and
                # their callers hear the exit status.
                sweep_orphans()
                for pid, status in ended:
                    finish(pid, status)
            elif key.data == "master":
                try:
                    message, fds, _flags, _addr = socket.recv_fds(master, 64, 8)
                except OSError:
                    message, fds = b"", []
                if not message:
                    shutdown()
                if len(fds) in (4, 5):
                    start(message, fds)
                else:
                    for fd in fds:
                        os.close(fd)
            else:
                control = key.fileobj
                pid = by_control.get(control.fileno())
                try:
                    data = control.recv(64)
                except OSError:
                    data = b""
                if pid is not None:
                    if data.startswith(b"K"):
                        try:  # how the job spent its life: on a core, or waiting for one
                            control.sendall(b"C%d %d\n" % _schedstat(pid))
                        except OSError:
                            pass
                    kill(pid)  # a kill request, or the parent went away
                if not data:
                    try:
                        selector.unregister(control)
                    except (KeyError, ValueError):
                        pass


def _site_without_pth_hooks(site_packages) -> None:
    """What ``site`` gives programs, minus running .pth hooks (the interpreter runs with -S).

    Installed libraries stay importable (site-packages on ``sys.path``), and ``exit()`` /
    ``quit()`` / ``help`` exist, as competitive programs expect (``print(x); exit(0)``).
    """
    import site

    site.setquit()
    site.setcopyright()
    site.sethelper()
    sys.path.extend(path for path in site_packages if path not in sys.path)


def main(argv: list[str]) -> None:
    # Correct programs may build integers of any size from strings (HumanEval+'s reference for
    # HumanEval/83 parses a million-digit "18000..."); CPython's default 4,300-digit limit on
    # str<->int conversion would make them fail with a ValueError no other harness raises.
    sys.set_int_max_str_digits(0)
    mode = argv[1]
    if mode in ("server", "spawn"):
        _site_without_pth_hooks(json.loads(argv[-1]).get("site_packages", ()))
    if mode == "server":
        serve(int(argv[2]), json.loads(argv[3]))
    elif mode == "spawn":
        if os.getsid(0) != os.getpid():
            os.setsid()
        channel_fd = int(argv[5])
        keeper(int(argv[2]), int(argv[3]), int(argv[4]), json.loads(argv[6]), channel_fd if channel_fd >= 0 else None)
    elif mode == "probe":
        print(json.dumps(probe()))
    else:  # pragma: no cover
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv)
