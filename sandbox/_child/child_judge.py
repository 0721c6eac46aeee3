"""The judge's link to the candidate, and the candidate's request loop (the other end).

check_function / asserts tests run in a *judge* job; the candidate's program runs in a job of
its own. Each call of the candidate from test code is a request over a stream socket between
the two: pickled arguments in (the judge is trusted), JSON of the restricted codec out (see
``encode``), so only plain data, exception names and opaque handles ever reach the judge.
"""

from __future__ import annotations

import base64
import builtins
import json
import os
import pickle
import sys

from child_kernel import DETAIL_CHARS, SOLUTION_MODULE, _exception_detail, _exception_status, _truncate, _write_all
from child_codec import Unencodable, _JSON_EXACT, encode

CANDIDATE_GONE_EXIT = 72  # the judge's exit code when the candidate's end closed mid-request
MALFORMED_REPLY_EXIT = 73  # ... when the candidate sent something that is not a reply
BATCH_DIVERGED_EXIT = 74  # ... when the test made a request its batch plan did not predict
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

    def send(reply) -> bool:
        """Sends ``reply`` (True) or, if it does not encode, the error that says so (False)."""
        if getpid() != owner:
            os._exit(0)  # a forked copy never answers
        try:
            line = dumps(reply)
            sent = True
        except BaseException as error:  # noqa: BLE001
            line = dumps(["X", type(error).__name__, _truncate(str(error))])
            sent = False
        channel.send(line.encode())
        return sent

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

    def call(obj, args, kwargs) -> list:
        result = obj(*args, **kwargs)
        mutated = []
        for position, argument in enumerate(args):
            if type(argument) in _MUTABLE:
                try:
                    mutated.append([position, encode(argument)])
                except Unencodable:
                    pass
        return ["R", describe(result), mutated]

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
            if op == "B":
                answer_batch(handles, target, args, call, send)
                continue
            if not 0 <= target < len(handles):
                raise LookupError("no such object")
            reply = _answer(op, handles[target], args, kwargs, call, describe)
        except BaseException as error:  # noqa: BLE001 - every outcome is an answer
            reply = _error_reply(error)
        send(reply)


def _answer(op: str, obj, args, kwargs, call, describe) -> list:
    """One request about one of the candidate's objects (raises what the object raises)."""
    if op == "c":
        return call(obj, args, kwargs)
    if op == "i":
        return ["I", [describe(item) for item in obj]]
    if op == "a":
        return ["R", describe(getattr(obj, args)), []]
    if op == "s":
        return ["R", ["v", str(obj)], []]
    if op == "n":
        return ["R", ["v", len(obj)], []]
    if op == "b":
        return ["R", ["v", bool(obj)], []]
    return ["X", "ValueError", "unknown request"]


def answer_batch(handles: list, target, calls, call, send) -> None:
    """A batch of calls of one object: an answer per call, in order, until one is not plain data.

    The judge may ask a handle questions of its own next (round trips), so the candidate must
    not run ahead of them: both sides end the batch after an answer that is not a value.
    """
    for item in calls:
        try:
            if type(target) is not int or not 0 <= target < len(handles):
                raise LookupError("no such object")
            args, kwargs = pickle.loads(item)  # plain data the judge took from its test's literals
            reply = call(handles[target], args, kwargs)
        except BaseException as error:  # noqa: BLE001 - every outcome is an answer
            reply = _error_reply(error)
        if send(reply) and reply[0] == "R" and reply[1][0] != "v":
            return  # a handle (or a module, which may be one in the judge)


def _error_reply(error: BaseException) -> list:
    try:
        message = _truncate(str(error))
    except BaseException:  # noqa: BLE001
        message = ""
    return ["X", type(error).__name__, message]


class CandidateObject:
    """An object that lives in the candidate's process, seen from the judge.

    Opaque: calling it, iterating over it, ``str()``, ``len()``, ``bool()`` or reading a public
    attribute is a request to the candidate that returns plain data or another handle; it
    equals only itself (so it never matches an expected value) and orders against nothing.
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

    def __bool__(self) -> bool:
        # The candidate decides its object's truth, as it could by returning True or False: a
        # truth test hides no expected value.
        truth = self._link.attribute(self, None, op="b")
        if type(truth) is not bool:
            raise TypeError("bool() of a candidate's object must be a bool")
        return truth

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
        self.batch: list | None = None  # [target id, the planned (args, kwargs), next index]

    def start_batch(self, target: "CandidateObject", calls: list[bytes]) -> None:
        """Send the planned calls of ``target`` at once (``child_plan``); answers come in order."""
        self.channel.send(pickle.dumps(("B", target._id, tuple(calls), {}), protocol=pickle.HIGHEST_PROTOCOL))
        self.batch = [target._id, [pickle.loads(call) for call in calls], 0]

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
        if self.batch is not None:
            os._exit(BATCH_DIVERGED_EXIT)  # answers of the batch are still on their way
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
        if self.batch is not None:
            reply = self._batched(target, args, kwargs)
        else:
            reply = self.request("c", target, args, kwargs)
        if reply[0] != "R" or len(reply) != 3 or type(reply[2]) is not list:
            os._exit(MALFORMED_REPLY_EXIT)
        value = self.value(reply[1])
        for item in reply[2]:
            self._write_back(args, item)
        return value

    def _batched(self, target: CandidateObject, args: tuple, kwargs: dict) -> list:
        """The next answer of the batch, for the call the plan predicted (anything else ends the judge)."""
        target_id, planned, index = self.batch
        if target._id != target_id or not _same((args, kwargs), planned[index]):
            os._exit(BATCH_DIVERGED_EXIT)
        self.batch[2] = index + 1
        reply = self.receive()
        # The candidate ends the batch after an answer that is not plain data (``answer_batch``).
        if index + 1 == len(planned) or (reply[0] == "R" and len(reply) == 3 and type(reply[1]) is list and reply[1][:1] != ["v"]):
            self.batch = None
        if reply[0] == "X" and len(reply) == 3:
            raise self.exception(reply[1], reply[2])
        return reply

    def iterate(self, target: CandidateObject) -> list:
        reply = self.request("i", target, (), {})
        if reply[0] != "I" or len(reply) != 2 or type(reply[1]) is not list:
            os._exit(MALFORMED_REPLY_EXIT)
        return [self.value(item) for item in reply[1]]

    def attribute(self, target: CandidateObject, name: str | None, op: str = "a"):
        """A public attribute (``a``), ``str()`` (``s``), ``len()`` (``n``) or ``bool()`` (``b``) of a handle."""
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


def _same(a, b, depth: int = 0) -> bool:
    """Equal and of the same types all the way down (1 and 1.0 and True differ; so do 0.0 and -0.0)."""
    kind = type(a)
    if kind is not type(b) or depth > 100:
        return False
    if kind in (list, tuple):
        return len(a) == len(b) and all(_same(x, y, depth + 1) for x, y in zip(a, b))
    if kind is dict:
        return len(a) == len(b) and all(
            _same(ka, kb, depth + 1) and _same(va, vb, depth + 1) for (ka, va), (kb, vb) in zip(a.items(), b.items())
        )
    if kind in (float, complex, set, frozenset):
        return repr(a) == repr(b) if kind in (float, complex) else (len(a) == len(b) and sorted(map(repr, a)) == sorted(map(repr, b)))
    if a is None or kind in (int, bool, str, bytes):
        return a == b
    return False


def batch_ready(plan: dict, namespace: dict, target) -> bool:
    """Whether the names a batch plan relies on are what it assumed (``child_plan``), right now.

    Every other name its statements read must be the judge's own: a module, a builtin
    function or type, or plain data, so that nothing but the planned calls can reach the
    candidate; attribute chains read before a call must resolve, so that nothing skips it.
    """
    if type(target) is not CandidateObject:
        return False
    for name in plan["names"]:
        if not _judge_side(_lookup(namespace, name)):
            return False
    for chain in plan["chains"]:
        value = _lookup(namespace, chain[0])
        for attribute in chain[1:]:
            if attribute.startswith("_") or not _judge_side(value):
                return False
            try:
                value = getattr(value, attribute)
            except BaseException:  # noqa: BLE001
                return False
        if not _judge_side(value):
            return False
    for chain in plan.get("attributes", ()):
        value = _lookup(namespace, chain[0])
        try:
            for attribute in chain[1:]:
                value = getattr(value, attribute)
        except BaseException:  # noqa: BLE001 - read after the call: it fails there as it would
            continue
        if type(value) is _BUILTIN_FUNCTION and not _judge_side(value):
            return False  # ``builtins.eval`` and the like, by another name
    return True


_MISSING = object()
_MODULE = type(sys)
_BUILTIN_FUNCTION = type(len)
_PLAIN_LEAVES = frozenset({int, float, complex, bool, str, bytes, type(None)})


def _lookup(namespace: dict, name: str):
    if name in namespace:
        return namespace[name]
    return getattr(builtins, name, _MISSING)


# Builtins that reach names the statements do not spell out (or run code): unplanned requests.
_REACHING = frozenset(
    {"eval", "exec", "compile", "globals", "locals", "vars", "getattr", "__import__", "breakpoint", "input"}
)


def _judge_side(value) -> bool:
    kind = type(value)
    if kind is _BUILTIN_FUNCTION:
        return getattr(value, "__self__", None) is not builtins or value.__name__ not in _REACHING
    if kind is _MODULE:
        return True
    if kind is type:
        return value.__module__ == "builtins"
    return _plain(value, [100_000])


def _plain(value, budget: list, depth: int = 0) -> bool:
    """Plain data all the way down (no handle inside), within ``budget`` items."""
    budget[0] -= 1
    kind = type(value)
    if kind in _PLAIN_LEAVES:
        return True
    if budget[0] < 0 or depth > 50:
        return False
    if kind in (list, tuple, set, frozenset):
        return all(_plain(item, budget, depth + 1) for item in value)
    if kind is dict:
        return all(_plain(key, budget, depth + 1) and _plain(item, budget, depth + 1) for key, item in value.items())
    return False
