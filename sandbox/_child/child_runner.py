from __future__ import annotations

import base64
import builtins
import json
import os
import pickle
import socket
import sys
import time

from child_kernel import DETAIL_CHARS, MAX_RECORD_BYTES, SOLUTION_FILENAME, SOLUTION_MODULE, _write_all, _read_payload
from child_codec import Unencodable, _JSON_EXACT, _output_record, encode
from child_guards import GUARD_NAME, RewardHack, _Guard, _snapshot, _tampered, _test_code

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
            elif op == "b":
                reply = ["R", ["v", bool(obj)], []]
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


