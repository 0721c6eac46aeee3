"""``execute``: run a candidate program against one test spec in an isolated child process.

Parent side. Safe to call from many threads of one process and from several processes: each
call owns its pipes and its memfd; the only shared object is the per-process fork server
(``sandbox/_child/``), reached over a SEQPACKET socket under a lock, started lazily, and
restarted after ``fork()`` of this process or if it died. Nothing of this process's
environment reaches the server or its children.

The parent owns the clock. Per-test wall-time deadlines run here: the child writes one record
per finished test to a dedicated pipe, and each record (counted, not parsed, while the child
runs) starts the next test's deadline. Records whose outputs the parent judges (call tests
with expected values, and every format under ``stop_on_first_failure``) are parsed and judged
as they come, at most once per wake-up, so a thousand large outputs are never held at once and
a first failure can stop the run; other records are parsed once, at the end. On a deadline,
an output flood (stdout and stderr share one capped pipe) or any other exit path, the job's
whole tree is killed (by the fork server: its process group, its cgroup if any, and every
orphan re-parented to it; in spawn mode: the process group and every descendant psutil finds).

What decides a verdict:
- check_function / asserts: the per-test records of the *judge* job, each starting with a
  per-run nonce. The judge runs the test code; the candidate's program runs in a second job
  that the judge reaches over a socket with plain data only (``sandbox/_child/``), and
  nothing that job writes reaches the record pipe. ``sys.exit(0)`` is ``error:SystemExit``;
  ``os._exit(0)`` or the candidate's process killing itself end the judge without a record,
  and the test is ``no_result`` or ``crashed`` from the candidate's exit status, never ``passed``.
- call / stdio: the child reports outputs only (restricted encoding, never unpickled); the
  parent compares them with expected values the child never saw (``sandbox/codec.py``).

Statuses are those of ``sandbox/types.py``; a sample's status is its first non-passing test's.
After a test ends the run (timeout, crash, output flood) the remaining tests are ``no_result``,
except in outputs mode (``CallTests(expected=None)``) where the run resumes after it so that
every input gets its own outcome. An unknown outcome is never ``passed``.

Switches (environment): ``PATFLOW_SANDBOX_MODE=spawn`` (a fresh interpreter per execution),
``PATFLOW_SANDBOX_NAMESPACES=0``, ``PATFLOW_SANDBOX_CGROUP=0``, ``PATFLOW_SANDBOX_JOB_CGROUPS=1``.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import json
import os
import pickle
import secrets
import select
import signal
import site
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from sandbox import _child, codec
from sandbox.identity_cache import IdentityCache
from sandbox.types import (
    CRASHED,
    FAILED,
    MEMORY_EXCEEDED,
    NO_RESULT,
    NO_TESTS,
    OUTPUT_LIMIT,
    PASSED,
    TIMEOUT,
    AssertTests,
    CallTests,
    CheckFunctionTests,
    ExecutionRequest,
    ExecutionResult,
    Limits,
    StdioTests,
    TestVerdict,
)

CHILD_SCRIPT = Path(__file__).with_name("_child")  # a directory run as a script (its __main__.py)
DETAIL_CHARS = 500
EXIT_GRACE_S = 2.0  # after the last record, time the child gets to exit on its own
KILL_WAIT_S = 5.0
LOAD_FLOOR_S = 2.0  # the program's module-level code gets at least this long
STDERR_KEEP_BYTES = 4096
SETUP_FAILED_EXIT = 71
SERVER_START_TIMEOUT_S = 60.0
POLL_S = 0.002  # after records arrive, wait this long for more before waking again
PIPE_BYTES = 1 << 20  # room for many records between polls
RECORD_STREAM_GRACE_S = 2.0


def _mode() -> str:
    return os.environ.get("PATFLOW_SANDBOX_MODE", "fork")


def _config() -> dict:
    return {
        "namespaces": os.environ.get("PATFLOW_SANDBOX_NAMESPACES", "1") != "0",
        "drop_uid": True,
        "job_cgroups": os.environ.get("PATFLOW_SANDBOX_JOB_CGROUPS", "0") == "1",
        "cgroup": os.environ.get("PATFLOW_SANDBOX_CGROUP", "1") != "0",
        "site_packages": _site_packages(),
    }


def _site_packages() -> list[str]:
    """This interpreter's site-packages, for programs that import installed libraries (numpy)."""
    return [os.path.realpath(path) for path in site.getsitepackages() if os.path.isdir(path)]


# Not -I: it implies -E, which ignores PYTHONHASHSEED, and str hashing (so set iteration order)
# would then differ between processes, flipping verdicts that depend on it (Mbpp/579, /769).
# -S -P keep the rest of -I (the environment is built from scratch below, so -E adds nothing).
# -S skips site: no .pth hooks (editable-install finders, namespace shims) run in the sandbox or
# sit in the fork server's memory, which every fork copies; site-packages is added to sys.path
# by the child instead (``_config()["site_packages"]``).
INTERPRETER_FLAGS = ("-S", "-P")


def _child_env() -> dict[str, str]:
    """Built from scratch: nothing of the parent's environment (API keys) reaches a child."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}


def _truncate(text: str, limit: int = DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- launchers
class _ForkServer:
    """One warm interpreter per parent process that forks a keeper per execution."""

    def __init__(self) -> None:
        parent_end, server_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, *INTERPRETER_FLAGS, str(CHILD_SCRIPT), "server", str(server_end.fileno()), json.dumps(_config())],
                pass_fds=[server_end.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=_child_env(),
                cwd="/",
                start_new_session=True,
            )
        finally:
            server_end.close()
        self.socket = parent_end
        self.owner_pid = os.getpid()
        self.send_lock = threading.Lock()
        self.layers: dict[str, str] = {}
        ready, _, _ = select.select([parent_end], [], [], SERVER_START_TIMEOUT_S)
        hello = parent_end.recv(65536) if ready else b""
        try:
            message = json.loads(hello or b"{}")
        except ValueError:
            message = {}
        if not message.get("ready"):
            self.close()
            raise OSError(f"fork server did not start: {message.get('error', 'no answer')}")
        self.layers = dict(message.get("layers", {}))

    def alive(self) -> bool:
        return self.owner_pid == os.getpid() and self.process.poll() is None

    def submit(self, payload_fd: int, result_w: int, out_w: int, work_mb: int, channel_fd: int | None = None) -> socket.socket:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fds = [theirs.fileno(), payload_fd, result_w, out_w] + ([channel_fd] if channel_fd is not None else [])
        try:
            with self.send_lock:
                socket.send_fds(self.socket, [b"J%d" % work_mb], fds)
        finally:
            theirs.close()
        return mine

    def close(self) -> None:
        if self.owner_pid != os.getpid():
            return
        self.socket.close()  # the server kills its jobs and exits on EOF
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        # If the server died without cleaning up, its (empty) cgroups are removed here.
        _child.JobCgroups.remove_leftovers(f"patflow-sandbox-{self.process.pid}")


_server: _ForkServer | None = None
_server_lock = threading.Lock()


def _fork_server() -> _ForkServer | None:
    global _server
    with _server_lock:
        if _server is not None and _server.alive():
            return _server
        if _server is not None and _server.owner_pid == os.getpid():
            _server.close()
        try:
            _server = _ForkServer()
        except OSError:
            _server = None
        return _server


@atexit.register
def _shutdown_server() -> None:
    global _server
    _close_judges()
    with _server_lock:
        if _server is not None:
            _server.close()
            _server = None


def fork_server_status() -> tuple[str, dict[str, str]]:
    """The fork server's line for the report, and the layers the server itself reported."""
    if _mode() != "fork":
        return "unavailable: PATFLOW_SANDBOX_MODE is not 'fork' (spawning a fresh interpreter per run)", {}
    server = _fork_server()
    if server is None:
        return "unavailable: the server process could not be started (spawning per run)", {}
    return f"active (pid {server.process.pid})", server.layers


class _Launch:
    """One running child: a keeper process, killable, with an exit status to wait for."""

    def __init__(self, payload_fd: int, result_w: int, out_w: int, work_mb: int, channel_fd: int | None = None) -> None:
        self.control: socket.socket | None = None
        self.popen: subprocess.Popen | None = None
        self.pidfd: int | None = None
        self.pid: int | None = None
        self.exit_status: int | None = None  # keeper exit code; >128 means signal - 128
        self.oom_kills = 0
        self.cpu_s: float | None = None  # when killed by request (fork server): its life on a CPU...
        self.wait_s: float | None = None  # ... and waiting for one
        self._control_buffer = b""
        server = _fork_server() if _mode() == "fork" else None
        if server is not None:
            try:
                self.control = server.submit(payload_fd, result_w, out_w, work_mb, channel_fd)
                return
            except OSError:
                self.control = None
        self.popen = subprocess.Popen(
            [
                *(sys.executable, *INTERPRETER_FLAGS, str(CHILD_SCRIPT), "spawn"),
                *(str(fd) for fd in (payload_fd, result_w, out_w, -1 if channel_fd is None else channel_fd)),
                json.dumps(_config()),
            ],
            pass_fds=[payload_fd, result_w, out_w] + ([channel_fd] if channel_fd is not None else []),
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=out_w,
            env=_child_env(),
            cwd="/",
            start_new_session=True,
        )
        self.pid = self.popen.pid
        self.pidfd = os.pidfd_open(self.pid)

    def fileno(self) -> int:
        return self.control.fileno() if self.control is not None else self.pidfd

    def on_readable(self) -> None:
        if self.control is not None:
            try:
                data = self.control.recv(4096)
            except OSError:
                data = b""
            if not data:
                if self.exit_status is None:
                    self.exit_status = -1  # server gone
                return
            self._control_buffer += data
            while b"\n" in self._control_buffer:
                line, self._control_buffer = self._control_buffer.split(b"\n", 1)
                if line.startswith(b"P"):
                    self.pid = int(line[1:])
                elif line.startswith(b"C"):
                    on_cpu, _, waiting = line[1:].partition(b" ")
                    if int(on_cpu) >= 0:
                        self.cpu_s, self.wait_s = int(on_cpu) / 1e9, int(waiting or 0) / 1e9
                elif line.startswith(b"S"):
                    status, _, oom = line[1:].partition(b" ")
                    self.oom_kills = int(oom or 0)
                    self.exit_status = _keeper_code(int(status))
        else:
            self.popen.wait()
            self.exit_status = self.popen.returncode

    def kill(self) -> None:
        if self.exit_status is not None:
            return
        if self.control is not None:
            try:
                self.control.sendall(b"K")
                return
            except OSError:
                pass
        if self.pid is None:
            return
        if self.popen is not None and self.popen.poll() is not None:
            return
        try:
            victims = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            victims = []
        for kill in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                kill()
            except OSError:
                pass
        for victim in victims:
            try:
                victim.kill()
            except psutil.Error:
                pass

    def wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.exit_status is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select([self], [], [], remaining)
            if ready:
                self.on_readable()

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
        if self.popen is not None and self.popen.returncode is None:
            try:
                self.popen.wait(timeout=KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                pass


# --------------------------------------------------------------------------- judges
JUDGE_MAX_RUNS = 200  # then a fresh judge: what test code leaves behind does not pile up
JUDGE_IDLE_MAX = 8
# A judge runs trusted test code for many executions: wall time is the parent's per-test
# clock as always; these bound the process over its life.
JUDGE_LIMITS = {"cpu_s": 3600.0, "memory_mb": 4096, "max_processes": 16, "file_size_mb": 16, "open_files": 64}


class _Judge:
    """A judge job (``_child.serve_judgements``) that runs the test code of many executions."""

    def __init__(self) -> None:
        parent_end, judge_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        payload_fd = _memfd_with(pickle.dumps({"kind": "judge_server", "limits": JUDGE_LIMITS, "output_bytes": 0}))
        # Test code's prints go nowhere; records go to each execution's own pipe (two
        # descriptors: the spawn-mode keeper closes each of its own).
        nulls = [os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC) for _ in range(2)]
        try:
            self.launch = _Launch(payload_fd, nulls[0], nulls[1], _child.work_dir_size_mb(JUDGE_LIMITS["file_size_mb"]), judge_end.fileno())
        except BaseException:
            parent_end.close()
            raise
        finally:
            for fd in (payload_fd, *nulls):
                os.close(fd)
            judge_end.close()
        self.feed = parent_end
        self.owner_pid = os.getpid()
        self.runs = 0

    def usable(self) -> bool:
        if self.owner_pid != os.getpid() or self.launch.exit_status is not None:
            return False
        ready, _, _ = select.select([self.launch], [], [], 0)
        if ready:
            self.launch.on_readable()  # a pid line, or the judge's exit status
        return self.launch.exit_status is None and self.runs < JUDGE_MAX_RUNS

    def submit(self, payload_fd: int, result_w: int, channel_fd: int) -> None:
        self.runs += 1
        socket.send_fds(self.feed, [b"J"], [payload_fd, result_w, channel_fd])

    def close(self) -> None:
        if self.owner_pid != os.getpid():
            return  # a forked copy of this process: the judge is the original's
        self.launch.kill()
        self.launch.close()
        self.feed.close()


_idle_judges: list[_Judge] = []
_judges_lock = threading.Lock()


def _take_judge() -> _Judge:
    while True:
        with _judges_lock:
            judge = _idle_judges.pop() if _idle_judges else None
        if judge is None:
            return _Judge()
        if judge.usable():
            return judge
        judge.close()


def _submit_to_judge(payload_fd: int, result_w: int, channel_fd: int) -> _Judge:
    for _attempt in range(3):
        judge = _take_judge()
        try:
            judge.submit(payload_fd, result_w, channel_fd)
            return judge
        except OSError:
            judge.close()  # it died while idle (its server restarted): take another
    judge = _Judge()
    judge.submit(payload_fd, result_w, channel_fd)
    return judge


def _give_back_judge(judge: _Judge) -> None:
    """A judge whose run ended with its "done" record serves the next execution."""
    if judge.usable():
        with _judges_lock:
            if len(_idle_judges) < JUDGE_IDLE_MAX:
                _idle_judges.append(judge)
                return
    judge.close()


def idle_judges() -> int:
    """How many judge processes wait for work (``patflow doctor``, the conformance table)."""
    with _judges_lock:
        return sum(1 for judge in _idle_judges if judge.owner_pid == os.getpid())


def idle_judge_host_pids() -> set[int]:
    """Host pids of idle judges started outside the fork server (spawn mode), for the table."""
    pids: set[int] = set()
    with _judges_lock:
        judges = [judge for judge in _idle_judges if judge.launch.popen is not None]
    for judge in judges:
        pids.add(judge.launch.popen.pid)
        try:
            pids.update(child.pid for child in psutil.Process(judge.launch.popen.pid).children(recursive=True))
        except psutil.Error:
            pass
    return pids


def _close_judges() -> None:
    with _judges_lock:
        judges = list(_idle_judges)
        _idle_judges.clear()
    for judge in judges:
        judge.close()


def _keeper_code(wait_status: int) -> int:
    if os.WIFEXITED(wait_status):
        return os.WEXITSTATUS(wait_status)
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return -1


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


def _memfd_with(data: bytes) -> int:
    fd = os.memfd_create("patflow-job", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        raise
    return fd


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


# --------------------------------------------------------------------------- public entry
def _job_and_count(request: ExecutionRequest) -> tuple[dict, int]:
    tests = request.tests
    limits = request.limits
    job: dict[str, Any] = {"program": request.program, "output_bytes": limits.output_bytes}
    if isinstance(tests, CheckFunctionTests):
        names = _names_used((tests.test_code,), tests.entry_point)
        return {
            "kind": "check_function",
            "test_code": _precompiled(tests.test_code, "<test>"),
            "entry_point": tests.entry_point,
            "helpers": tests.helpers,
            "names": names,
            "candidate": _candidate_job(request, names),
        }, 1
    if isinstance(tests, AssertTests):
        names = _names_used(tests.asserts, tests.entry_point)
        return {
            "kind": "asserts",
            "asserts": tuple(_precompiled(source, f"<test {i}>") for i, source in enumerate(tests.asserts)),
            "imports": tests.imports,
            "helpers": tests.helpers,
            "entry_point": tests.entry_point,
            "names": names,
            "candidate": _candidate_job(request, names, setup_code=tests.setup_code, imports=tests.imports),
        }, len(tests.asserts)
    if isinstance(tests, CallTests):
        if tests.expected is not None and len(tests.expected) != len(tests.inputs):
            raise ValueError(f"CallTests: {len(tests.inputs)} inputs but {len(tests.expected)} expected outputs")
        inputs = _pickled_inputs(tests)
        # With expected values, large outputs cross packed or as digests (outputs mode needs them whole).
        job.update(kind="call", entry_point=tests.entry_point, inputs=inputs, compact_large=tests.expected is not None)
        return job, len(tests.inputs)
    if isinstance(tests, StdioTests):
        job.update(kind="stdio", stdins=tuple(stdin for stdin, _ in tests.cases))
        return job, len(tests.cases)
    raise TypeError(f"unknown test spec {type(tests).__name__}")


def _candidate_job(request: ExecutionRequest, names: tuple[str, ...], setup_code: str = "", imports: str = "") -> dict:
    """What the candidate's process gets: its program and the names to describe; no test code."""
    return {
        "kind": "candidate",
        "program": request.program,
        "setup_code": setup_code,
        "imports": imports,
        "names": names,
        "output_bytes": request.limits.output_bytes,
    }


_BUILTIN_NAMES = frozenset(dir(__import__("builtins")))


@functools.lru_cache(maxsize=4096)
def _names_used(sources: tuple[str, ...], entry_point: str) -> tuple[str, ...]:
    """Names the test code reads that the program may define: asked of the candidate.

    Builtins are the judge's own (a program's ``len`` never stands in for the test's), except
    the entry point itself. Unparsable test code asks for nothing (it fails as such).
    """
    import ast

    names = {entry_point} if entry_point else set()
    for source in sources:
        try:
            with _COMPILE_LOCK:
                tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        names.update(node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load))
    return tuple(sorted(name for name in names if name == entry_point or name not in _BUILTIN_NAMES))


_pickled_inputs_cache: IdentityCache[tuple[bytes, ...]] = IdentityCache(max_entries=256)


def _pickled_inputs(tests: CallTests) -> tuple[bytes, ...]:
    """Each input pickled once per CallTests object: every sample of a problem shares them."""
    return _pickled_inputs_cache.get(
        tests, lambda t: tuple(pickle.dumps(tuple(args), protocol=pickle.HIGHEST_PROTOCOL) for args in t.inputs)
    )


# CPython 3.11's parser is not safe to enter from several threads at once: concurrent
# ast.parse calls fail with "SystemError: AST constructor recursion depth mismatch"
# (seen here in a sweep; fixed upstream in later releases). execute() runs in many threads.
_COMPILE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8192)
def _precompiled(source: str, filename: str) -> bytes | tuple[str, str]:
    """Test code is trusted: rewrite and compile it once here, ship the marshalled code."""
    with _COMPILE_LOCK:
        compiled = _child.precompile_test_code(source, filename)
    return compiled if isinstance(compiled, bytes) else ("error", compiled)


def _limits_payload(limits: Limits, time_limits_s: list[float]) -> dict:
    cpu_s = limits.cpu_s
    if cpu_s is None:
        cpu_s = max(limits.timeout_s, LOAD_FLOOR_S) + sum(time_limits_s) + 1.0
    return {
        "cpu_s": cpu_s,
        "memory_mb": limits.memory_mb,
        "max_processes": limits.max_processes,
        "file_size_mb": limits.file_size_mb,
        "open_files": limits.open_files,
    }


def execute(request: ExecutionRequest) -> ExecutionResult:
    """Run ``request.program`` against ``request.tests``; every outcome is a verdict."""
    started = time.perf_counter()
    job, total = _job_and_count(request)
    limits = request.limits
    if request.time_limits_s is not None:
        if len(request.time_limits_s) != total:
            raise ValueError(f"time_limits_s has {len(request.time_limits_s)} entries for {total} tests")
        time_limits_s = [float(t) for t in request.time_limits_s]
    else:
        time_limits_s = [float(limits.timeout_s)] * total
    tests = request.tests
    outputs_mode = isinstance(tests, CallTests) and tests.expected is None
    if total == 0:
        return ExecutionResult(NO_TESTS, (), (time.perf_counter() - started) * 1000, () if outputs_mode else None)
    job["limits"] = _limits_payload(limits, time_limits_s)
    if "candidate" in job:
        job["candidate"]["limits"] = job["limits"]

    job["stop_on_first_failure"] = request.stop_on_first_failure
    judged: dict[int, bool] = {}
    judge_on_arrival = request.stop_on_first_failure or (isinstance(tests, CallTests) and tests.expected is not None)
    passes = _output_judge(tests, judged) if judge_on_arrival else None
    verdicts: dict[int, TestVerdict] = {}
    outputs: dict[int, Any] = {}
    timeout_account = None
    first = 0
    while first < total:
        state = _run_child(job, first, time_limits_s, limits, passes, request.stop_on_first_failure)
        verdicts.update(state.verdicts)
        outputs.update(state.outputs)
        if state.setup_error is not None:
            for index in range(first, total):
                verdicts[index] = TestVerdict(index, CRASHED, "sandbox set-up failed: " + state.setup_error)
            break
        if state.load_failure is not None:
            status, detail = state.load_failure
            for index in range(first, total):
                verdicts[index] = TestVerdict(index, status, detail)
            break
        if state.stop_reason == "first_failure" or (request.stop_on_first_failure and _has_failure(state)):
            for index in range(state.next_index, total):
                verdicts[index] = TestVerdict(index, NO_RESULT, "not run: stopped after the first failure")
            break
        if state.next_index >= total:
            break
        stopped_at = state.next_index
        verdicts[stopped_at] = _unreported_verdict(state, stopped_at, time_limits_s, limits)
        if verdicts[stopped_at].status == TIMEOUT and timeout_account is None:
            timeout_account = _timeout_account(state)
        if outputs_mode:
            first = stopped_at + 1
            continue
        for index in range(stopped_at + 1, total):
            verdicts[index] = TestVerdict(index, NO_RESULT, f"not run: test {stopped_at} ended the run")
        break

    ordered = [verdicts[i] for i in range(total)]
    result_outputs = None
    if isinstance(tests, CallTests):
        ordered = _compare_calls(tests, ordered, outputs, judged)
        if outputs_mode:
            result_outputs = tuple(outputs.get(i) for i in range(total))
    elif isinstance(tests, StdioTests):
        ordered = _compare_stdio(tests, ordered, outputs)
    status = next((v.status for v in ordered if v.status != PASSED), PASSED)
    starved, cpu_s, wait_s = timeout_account or (None, None, None)
    return ExecutionResult(
        status,
        tuple(ordered),
        (time.perf_counter() - started) * 1000,
        result_outputs,
        timeout_starved=starved,
        timeout_cpu_s=cpu_s,
        timeout_wait_s=wait_s,
    )


# A timed-out job that waited this share of its test's limit for a core (over its whole life)
# may have timed out because of load: the caller may re-check it. One that did not was on the
# CPU, or sleeping, or blocked on its own: the timeout is its own.
STARVED_WAIT_FRACTION = 0.25


def _timeout_account(state: _RunState) -> tuple[bool | None, float | None, float | None]:
    """(starved?, CPU seconds, run-queue seconds) of the process that timed out; None: unknown."""
    if state.stop_reason != "timeout":
        # The CPU rlimit (SIGXCPU): the whole CPU budget was spent computing.
        return False, None, None
    if state.wait_s is None:
        return None, None, None  # spawn mode: the keeper's schedule is not read
    return state.wait_s >= STARVED_WAIT_FRACTION * state.timeout_limit_s, state.cpu_s, state.wait_s


def _has_failure(state: _RunState) -> bool:
    return any(v.status != PASSED for v in state.verdicts.values())


def _output_judge(tests, judged: dict[int, bool]):
    """(index, output) -> passes?, for outputs the parent judges while the child runs.

    Call outputs judged here are remembered in ``judged``, so the final comparison does not
    compare them again.
    """
    if isinstance(tests, CallTests) and tests.expected is not None:

        def passes(index: int, output: Any) -> bool:
            if output is _MISSING_OUTPUT:
                return False
            verdict = codec.compare(output, tests.expected[index], tests.inputs[index], tests.comparison, tests.atol)
            judged[index] = verdict
            return verdict

        return passes
    if isinstance(tests, StdioTests):
        return lambda index, output: type(output) is str and codec.stdout_matches(output, tests.cases[index][1])
    return None


def _compare_calls(
    tests: CallTests, verdicts: list[TestVerdict], outputs: dict[int, Any], judged: dict[int, bool]
) -> list[TestVerdict]:
    if tests.expected is None:
        return verdicts
    result = []
    for verdict in verdicts:
        if verdict.status != PASSED or judged.get(verdict.index) is True:
            pass
        elif verdict.index not in outputs:
            verdict = TestVerdict(verdict.index, NO_RESULT, "no output reported", verdict.duration_ms)
        else:
            got = outputs[verdict.index]
            expected = tests.expected[verdict.index]
            same = judged.get(verdict.index)
            if same is None:
                same = codec.compare(got, expected, tests.inputs[verdict.index], tests.comparison, tests.atol)
            if not same:
                shown = f"an output with BLAKE2b digest {got}" if isinstance(got, codec.Digest) else _short_repr(got)
                detail = _truncate(f"expected {_short_repr(expected)}, got {shown}")
                verdict = TestVerdict(verdict.index, FAILED, detail, verdict.duration_ms)
        result.append(verdict)
    return result


def _compare_stdio(tests: StdioTests, verdicts: list[TestVerdict], outputs: dict[int, Any]) -> list[TestVerdict]:
    result = []
    for verdict in verdicts:
        if verdict.status == PASSED:
            got = outputs.get(verdict.index)
            expected = tests.cases[verdict.index][1]
            if type(got) is not str:
                verdict = TestVerdict(verdict.index, NO_RESULT, "no output reported", verdict.duration_ms)
            elif not codec.stdout_matches(got, expected):
                detail = _truncate(f"expected {_short_repr(expected)}, got {_short_repr(got)}")
                verdict = TestVerdict(verdict.index, FAILED, detail, verdict.duration_ms)
        result.append(verdict)
    return result


def _short_repr(value: Any) -> str:
    if type(value) is int and value.bit_length() > 600:  # repr() of a huge int may raise
        return f"<int of {value.bit_length()} bits, {hex(value)[:24]}...>"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."
