"""One child run, watched: the parent owns the clock and reads the records.

Per-test wall-time deadlines run here: the child (or, for check-function and assert tests,
the judge) writes one record per finished test to a dedicated pipe, and each record starts the
next test's deadline. On a deadline, an output flood or any other exit path the job's whole
tree is killed. What is left unreported becomes a verdict from the exit status (never passed).
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import secrets
import select
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from sandbox import _child, codec
from sandbox.types import (
    CRASHED,
    MEMORY_EXCEEDED,
    NO_RESULT,
    OUTPUT_LIMIT,
    PASSED,
    TIMEOUT,
    Limits,
    TestVerdict,
)
from sandbox.launch import (
    DETAIL_CHARS,
    EXIT_GRACE_S,
    KILL_WAIT_S,
    LOAD_FLOOR_S,
    PIPE_BYTES,
    POLL_S,
    RECORD_STREAM_GRACE_S,
    STDERR_KEEP_BYTES,
    _Launch,
    _give_back_judge,
    _memfd_with,
    _submit_to_judge,
    _truncate,
)


# --------------------------------------------------------------------------- one child run
@dataclass
class _RunState:
    first: int
    total: int
    verdicts: dict[int, TestVerdict] = field(default_factory=dict)
    outputs: dict[int, Any] = field(default_factory=dict)
    load_failure: tuple[str, str] | None = None
    setup_error: str | None = None
    loaded: bool = False
    next_index: int = 0
    stop_reason: str | None = None  # timeout | output_limit
    stderr_head: bytes = b""
    output_bytes: int = 0
    exit_status: int | None = None
    oom_kills: int = 0
    malformed_reply: bool = False  # the judge ended on something the candidate sent that is not a reply
    completed: bool = False  # the run ended with its "done" record
    timeout_limit_s: float = 0.0  # the limit of the phase that timed out
    cpu_s: float | None = None  # the candidate's process at a timeout: its life on a CPU...
    wait_s: float | None = None  # ... and runnable but waiting for a CPU


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _run_child(
    job: dict, first: int, time_limits_s: list[float], limits: Limits, passes=None, stop_on_failure: bool = False
) -> _RunState:
    """One child run from test ``first`` on. A job with a ``candidate`` part is a judge: the
    candidate's program runs in a second job, reached only through a socket between the two."""
    total = len(time_limits_s)
    state = _RunState(first=first, total=total, next_index=first)
    nonce = secrets.token_hex(16)
    candidate_job = job.get("candidate")
    judge_job = {key: value for key, value in job.items() if key != "candidate"}
    payload = pickle.dumps({**judge_job, "nonce": nonce, "start": first}, protocol=pickle.HIGHEST_PROTOCOL)
    work_mb = _child.work_dir_size_mb(limits.file_size_mb)
    result_r, result_w = os.pipe2(os.O_CLOEXEC)
    try:
        fcntl.fcntl(result_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:
        pass  # the default 64 KiB: the child just waits for the next poll more often
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    launch = candidate = judge = None
    try:
        payload_fd = _memfd_with(payload)
        to_close = [payload_fd, result_w, out_w]
        try:
            if candidate_job is None:
                launch = _Launch(payload_fd, result_w, out_w, work_mb)
            else:
                judge_end, candidate_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                to_close += [judge_end, candidate_end]
                candidate_payload_fd = _memfd_with(pickle.dumps(candidate_job, protocol=pickle.HIGHEST_PROTOCOL))
                to_close.append(candidate_payload_fd)
                # The candidate's only way out is its end of the socket (as its "result" fd)
                # and the capped stdout/stderr pipe.
                candidate = _Launch(candidate_payload_fd, candidate_end.fileno(), out_w, work_mb)
                judge = _submit_to_judge(payload_fd, result_w, judge_end.fileno())
                launch = judge.launch
        finally:
            for item in to_close:
                item.close() if isinstance(item, socket.socket) else os.close(item)
        _watch(launch, state, nonce, result_r, out_r, time_limits_s, limits, passes, stop_on_failure)
        if candidate is not None:
            _settle_candidate(state, candidate)
        if state.stop_reason == "timeout":
            computing = candidate if candidate is not None else launch
            if candidate is not None:
                candidate.kill()
                candidate.wait(KILL_WAIT_S)  # its exit status comes after its schedule line
            state.cpu_s, state.wait_s = computing.cpu_s, computing.wait_s
    finally:
        if candidate is not None:
            candidate.kill()  # the judge is done or gone; nothing the candidate does counts now
            candidate.close()
        if judge is not None:
            if state.completed:
                _give_back_judge(judge)
            else:
                judge.close()  # killed, or ended on its candidate: never reused
        elif launch is not None:
            launch.close()
        os.close(result_r)
        os.close(out_r)
    return state


def _settle_candidate(state: _RunState, candidate: _Launch) -> None:
    """A judge that ended because of its candidate: the test's outcome is the candidate's."""
    if state.exit_status == _child.MALFORMED_REPLY_EXIT:
        state.malformed_reply = True
    elif state.exit_status == _child.CANDIDATE_GONE_EXIT:
        candidate.wait(KILL_WAIT_S)
        if candidate.exit_status is None:
            candidate.kill()
            candidate.wait(KILL_WAIT_S)
        state.exit_status = candidate.exit_status
        state.oom_kills = max(state.oom_kills, candidate.oom_kills)


def _watch(
    launch: _Launch,
    state: _RunState,
    nonce: str,
    result_r: int,
    out_r: int,
    time_limits_s,
    limits: Limits,
    passes=None,
    stop_on_failure: bool = False,
) -> None:
    """Own the clock while the child runs; parse its records as they come or once at the end.

    Complete lines are counted (one per finished test after the load line) to move the
    per-test deadline. With ``passes`` (the parent judges outputs), new records are parsed
    and judged after each wake-up, and a failure ends the run if ``stop_on_failure``;
    otherwise parsing waits until the end, in one batch. Lines a program forges can only move
    its own deadline, never past the whole run's budget.
    """
    received = bytearray()  # read from the result pipe and not yet parsed (judged records leave it)
    lines_seen = 0
    watched = [result_r, out_r, launch]
    started = time.monotonic()
    first_limit = time_limits_s[state.first] if state.first < state.total else limits.timeout_s
    load_budget_s = max(first_limit, limits.timeout_s, LOAD_FLOOR_S)
    hard_deadline = started + load_budget_s + sum(time_limits_s[state.first :]) + EXIT_GRACE_S
    deadline = started + load_budget_s
    current_limit_s = load_budget_s
    tests_left = state.total - state.first

    os.set_blocking(result_r, False)
    done_line = b"[" + json.dumps(nonce).encode() + b',"D"]\n'
    done = False
    while launch.exit_status is None and not done:
        now = time.monotonic()
        remaining = min(deadline, hard_deadline) - now
        if remaining <= 0:
            if state.stop_reason is None and lines_seen - 1 < tests_left:
                state.stop_reason = "timeout"
                state.timeout_limit_s = current_limit_s
            launch.kill()
            break
        ready, _, _ = select.select(watched, [], [], remaining)
        got_records = False
        for source in ready:
            if source is result_r:
                try:
                    while data := os.read(result_r, 1 << 20):
                        received += data
                        new_lines = data.count(b"\n")
                        if new_lines:
                            got_records = True
                            lines_seen += new_lines
                            index = state.first + lines_seen - 1
                            current_limit_s = time_limits_s[index] if index < state.total else EXIT_GRACE_S
                            deadline = time.monotonic() + current_limit_s
                            done = done or received.endswith(done_line)
                        else:
                            # A large record is streaming in: its test is over, let it arrive.
                            deadline = max(deadline, time.monotonic() + RECORD_STREAM_GRACE_S)
                    else:
                        watched.remove(result_r)
                except BlockingIOError:
                    pass
            elif source is out_r:
                data = os.read(out_r, 1 << 16)
                if not data:
                    watched.remove(out_r)
                    continue
                state.output_bytes += len(data)
                if len(state.stderr_head) < STDERR_KEEP_BYTES:
                    state.stderr_head += data[: STDERR_KEEP_BYTES - len(state.stderr_head)]
                if state.output_bytes > limits.output_bytes and lines_seen - 1 < tests_left and state.stop_reason is None:
                    state.stop_reason = "output_limit"
                    launch.kill()
                    deadline = time.monotonic()
            else:
                launch.on_readable()
        if got_records and passes is not None:
            judging_started = time.monotonic()
            failed = _judge_new_records(received, nonce, state, time_limits_s, limits, passes)
            if failed and stop_on_failure:
                state.stop_reason = "first_failure"
                launch.kill()
                break
            # Time spent judging outputs here (a digest of a million-item expected value takes
            # a while) is the parent's, not the running test's: it must not turn into a timeout.
            judged_s = time.monotonic() - judging_started
            deadline += judged_s
            hard_deadline += judged_s
        if got_records and not done and launch.exit_status is None and tests_left > 1 and lines_seen >= 2:
            # Many fast tests: let records pile up rather than waking up once per record (not
            # after the load line, and never for one test: that would only add latency).
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
    if done:
        state.completed = True
        _drain(result_r, received)
        _apply_records(bytes(received), nonce, state, time_limits_s, limits)
        state.stop_reason = None
        state.exit_status = 0  # every record is in; the server reaps and sweeps the rest
        return
    launch.wait(KILL_WAIT_S)
    if launch.exit_status is None:
        launch.kill()
        launch.wait(KILL_WAIT_S)
    # Everything the child wrote before it died is already in the pipe; take it without waiting.
    _drain(result_r, received)
    _apply_records(bytes(received), nonce, state, time_limits_s, limits)
    if state.next_index >= state.total or state.load_failure is not None or state.setup_error is not None:
        state.stop_reason = None  # everything was reported: a late kill changes nothing
    state.exit_status = launch.exit_status
    state.oom_kills = launch.oom_kills


def _judge_new_records(
    received: bytearray, nonce: str, state: _RunState, time_limits_s, limits: Limits, passes
) -> bool:
    """Parse and judge the records completed since the last call; True if one failed.

    The parsed bytes leave ``received`` and a passing output is dropped once judged (its
    verdict is in ``judged``), so a run with a thousand large outputs never holds them all.
    """
    end = received.rfind(b"\n") + 1
    if end == 0:
        return False
    before = state.next_index
    with memoryview(received) as view:
        data = bytes(view[:end])  # one copy (``bytes(received[:end])`` makes two)
    del received[:end]
    _apply_records(data, nonce, state, time_limits_s, limits)
    failed = False
    outputs = state.outputs
    for index in range(before, state.next_index):
        if state.verdicts[index].status != PASSED or not passes(index, outputs.get(index, _MISSING_OUTPUT)):
            failed = True
        else:
            outputs.pop(index, None)
    return failed


_MISSING_OUTPUT = object()


def _drain(fd: int, received: bytearray) -> None:
    try:
        while data := os.read(fd, 1 << 20):
            received += data
    except BlockingIOError:
        pass


def _apply_records(data: bytes, nonce: str, state: _RunState, time_limits_s, limits: Limits) -> None:
    prefix = b"[" + json.dumps(nonce).encode() + b","
    lines = [line for line in data.split(b"\n") if line.startswith(prefix)]  # others are not ours
    if not lines:
        return
    # Packed outputs' base64 bodies are cut out before the JSON parser (it would scan megabytes).
    bodies = {}
    for i in [i for i, line in enumerate(lines) if len(line) > PACKED_CUT_BYTES]:
        lines[i], bodies[i] = _cut_packed_body(lines[i])
    try:
        records = json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append(None)
    for i, body in bodies.items():
        if i < len(records):  # a forged line can shift records: it then misplaces only its own
            _restore_packed_body(records[i], body)
    for record in records:
        if type(record) is list:
            _apply_record(record, state, time_limits_s, limits)


PACKED_CUT_BYTES = 1 << 16
_PACKED_MARK = b'[["#a","'


def _cut_packed_body(line: bytes) -> tuple[bytes, bytes | None]:
    """(the line with an empty body, the body) for a packed-output record, else (line, None).

    The body stays bytes: it is hashed as it is, and decoded from base64 only if unpacked.
    """
    if not line.endswith(b'"]]]'):
        return line, None
    opening = line.rfind(b'"', 0, len(line) - 4)  # base64 holds no quote: this one opens the body
    if opening < 0 or line.rfind(_PACKED_MARK, 0, opening) < 0:
        return line, None
    return line[: opening + 1] + line[-4:], line[opening + 1 : -4]


def _restore_packed_body(record: Any, body: bytes | None) -> None:
    try:
        packed = record[6][0]
    except (TypeError, IndexError, KeyError):
        return
    if body is not None and type(packed) is list and len(packed) == 4 and packed[0] == "#a" and packed[3] == "":
        packed[3] = body


def _apply_record(record: list, state: _RunState, time_limits_s, limits: Limits) -> None:
    if len(record) < 2:
        return
    kind = record[1]
    if kind == "L" and not state.loaded:
        state.loaded = True
    elif kind == "F" and len(record) == 5 and not state.loaded:
        state.load_failure = (str(record[2]), _truncate(str(record[3])))
    elif kind == "E" and len(record) == 3:
        state.setup_error = _truncate(str(record[2]))
    elif kind == "T" and len(record) == 7 and state.loaded:
        _, _, index, status, detail, duration_ms, output = record
        if index != state.next_index or type(status) is not str:
            return  # out of order: not something the runner wrote
        duration = float(duration_ms) if type(duration_ms) in (int, float) else 0.0
        if type(detail) is not str or len(detail) > DETAIL_CHARS:
            detail = _truncate(str(detail))
        verdict = TestVerdict(index, status, detail, duration)
        if status == PASSED and type(output) is list and len(output) == 1:
            try:
                state.outputs[index] = codec.decode(output[0])
            except codec.MalformedOutput as error:
                verdict = TestVerdict(index, NO_RESULT, f"malformed output record: {error}", duration)
        state.verdicts[index] = verdict
        state.next_index = index + 1


def _unreported_verdict(state: _RunState, index: int, time_limits_s, limits: Limits) -> TestVerdict:
    """The test the child was on when the run ended without its record."""
    exit_status = state.exit_status
    head = state.stderr_head.decode("utf-8", errors="replace")
    if state.stop_reason == "timeout":
        if not state.loaded:
            return TestVerdict(index, TIMEOUT, "the program did not finish loading in time")
        return TestVerdict(index, TIMEOUT, f"no result within {time_limits_s[index]:.3g} s", time_limits_s[index] * 1000)
    if state.stop_reason == "output_limit":
        return TestVerdict(index, OUTPUT_LIMIT, f"more than {limits.output_bytes} bytes on stdout/stderr")
    if state.malformed_reply:
        return TestVerdict(index, NO_RESULT, "the candidate's process sent something that is not a reply")
    if state.oom_kills:
        return TestVerdict(index, MEMORY_EXCEEDED, f"killed by the memory cgroup (limit {limits.memory_mb} MB)")
    if exit_status is not None and exit_status > 128:
        number = exit_status - 128
        if number == signal.SIGXCPU:
            return TestVerdict(index, TIMEOUT, "CPU time limit exceeded")
        if "MemoryError" in head or "Cannot allocate memory" in head or "out of memory" in head:
            return TestVerdict(index, MEMORY_EXCEEDED, f"killed by {_signal_name(number)} while out of memory")
        return TestVerdict(index, CRASHED, f"killed by {_signal_name(number)}")
    if exit_status == -1 or exit_status is None:
        return TestVerdict(index, CRASHED, "the sandbox lost track of the child")
    return TestVerdict(index, NO_RESULT, f"the program exited (code {exit_status}) before the test reported")


