"""The runner: one job's tests (call, stdio, the judge's side of check_function / asserts).

``serve_judgements`` is a pooled judge's loop; the link to the candidate is in ``child_judge``.
"""

from __future__ import annotations

import builtins
import json
import os
import pickle
import socket
import sys
import time

from child_kernel import (
    MAX_RECORD_BYTES,
    SOLUTION_FILENAME,
    SOLUTION_MODULE,
    _exception_detail,
    _exception_status,
    _read_payload,
    _truncate,
    _write_all,
)
from child_codec import Unencodable, _output_record
from child_guards import GUARD_NAME, RewardHack, _Guard, _snapshot, _tampered, _test_code
from child_judge import CANDIDATE_GONE_EXIT, MALFORMED_REPLY_EXIT, CandidateLink, _load_status, batch_ready, run_candidate

__all__ = ["CANDIDATE_GONE_EXIT", "MALFORMED_REPLY_EXIT", "Runner", "_record_encoder", "serve_judgements"]

# --------------------------------------------------------------------------- the runner
def _safe_repr(value) -> str:
    try:
        return _truncate(repr(value), 200)
    except BaseException as error:  # noqa: BLE001 - a hostile __repr__ must not end the run
        return f"<unrepresentable {type(value).__name__}: {type(error).__name__}>"


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
        self.link: CandidateLink | None = None  # the judge's link to its candidate

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
        link = self.link = CandidateLink(job["channel_fd"])
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
        self.start_batch(test_namespace, namespace[entry], 0)
        status, detail = self._judge(guard, call, test_namespace)
        self.finish_test(0, status, detail, started, snapshot)

    def start_batch(self, test_namespace: dict, target, start: int) -> None:
        """Send the calls the tests from ``start`` on will make at once, if the job has a plan for them."""
        plan = self.job.get("batch")
        if plan is None or self.link is None:
            return
        calls = [call for test in plan["calls"][start:] for call in test]
        if len(calls) >= 2 and batch_ready(plan, test_namespace, target):
            self.link.start_batch(target, calls)

    def run_asserts(self, test_namespace: dict, guard: _Guard, snapshot) -> None:
        self.start_batch(test_namespace, test_namespace.get(self.job["entry_point"]), self.job["start"])
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
