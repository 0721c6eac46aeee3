"""Starting sandboxed jobs: the per-process warm fork server, one launch per job, the judges.

Safe to call from many threads and from several processes: the only shared objects are the
per-process fork server (``sandbox/_child/``), reached over a SEQPACKET socket under a lock,
started lazily and restarted after ``fork()`` of this process or if it died, and the pool of
judge processes (check-function and assert test code, many executions each, never candidate
code). Nothing of this process's environment reaches the server or its children.

Switches (environment): ``PATFLOW_SANDBOX_MODE=spawn`` (a fresh interpreter per execution),
``PATFLOW_SANDBOX_NAMESPACES=0``, ``PATFLOW_SANDBOX_CGROUP=0``, ``PATFLOW_SANDBOX_JOB_CGROUPS=1``.
"""

from __future__ import annotations

import atexit
import json
import os
import pickle
import select
import signal
import site
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from sandbox import _child


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


