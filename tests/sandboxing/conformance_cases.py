"""The sandbox conformance table: hostile programs, their expected verdicts, and host checks.

Run as a script *inside* ``../shared/tools/jail.sh`` (a throwaway pids + memory cgroup), by
``test_sandbox_conformance.py``; it prints one JSON object per case on stdout. Each case runs
alone, then the script checks that the host survived (this process, the fork server, a
canary file, a listener, a secret in this process's environment) and that nothing the case
started is still running (every process in this jail's cgroup tree, minus this process and
the fork server's two processes).

Usage: python conformance_cases.py [CASE_NAME ...]
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SECRET = "patflow-conformance-secret-7f3a9c"
os.environ["PATFLOW_CONFORMANCE_SECRET"] = SECRET  # must never be visible to a child

from sandbox import execute  # noqa: E402
from sandbox import launch  # noqa: E402
from sandbox.types import (  # noqa: E402
    AssertTests,
    CallTests,
    CheckFunctionTests,
    ExecutionRequest,
    Limits,
    StdioTests,
)

LIMITS = Limits(timeout_s=0.5, memory_mb=512, max_processes=16, file_size_mb=8, output_bytes=64 * 1024)
HOST_DIR = Path(tempfile.mkdtemp(prefix="patflow-conformance-"))
os.chmod(HOST_DIR, 0o777)  # world-writable on purpose: the sandbox must still not reach it
MARKER = HOST_DIR / "daemon-was-here"
HOME_TARGET = Path.home() / "patflow-conformance-pwned"
CWD_TARGET = Path.cwd() / "patflow-conformance-pwned"


def check_one(body: str, expected: object = 1) -> CheckFunctionTests:
    return CheckFunctionTests(f"def check(candidate):\n    assert candidate() == {expected!r}\n", "f")


def calls(n: int = 1) -> CallTests:
    return CallTests("f", tuple(() for _ in range(n)), expected=None)


def listener() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.5)
    return server


LISTENER = listener()
PORT = LISTENER.getsockname()[1]

# name -> (program, tests, accepted statuses, expected outputs (or None to skip))
CASES: dict[str, tuple[str, object, set[str], object]] = {
    "infinite_loop": ("def f():\n    while True:\n        pass\n", check_one(""), {"timeout"}, None),
    "ignores_sigterm": (
        "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "def f():\n    while True:\n        pass\n",
        check_one(""),
        {"timeout"},
        None,
    ),
    "non_daemon_thread": (
        "import threading, time\n"
        "def spin():\n    while True:\n        time.sleep(0.01)\n"
        "def f():\n    threading.Thread(target=spin).start()\n    return 1\n",
        check_one(""),
        {"passed"},
        None,
    ),
    "memory_bomb": (
        "def f():\n    blocks = []\n    while True:\n        blocks.append(bytearray(50 * 1024 * 1024))\n",
        check_one(""),
        {"memory_exceeded"},
        None,
    ),
    "fork_bomb": (
        "import os\ndef f():\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n",
        check_one(""),
        {"timeout", "error:BlockingIOError"},
        None,
    ),
    "disk_fill": (
        "def f():\n    i = 0\n    while True:\n        with open(f'fill{i}', 'wb') as h:\n"
        "            h.write(b'x' * (4 * 1024 * 1024))\n        i += 1\n",
        check_one(""),
        {"error:OSError"},
        None,
    ),
    "output_flood": (
        "def f():\n    while True:\n        print('x' * 10000)\n",
        check_one(""),
        {"output_limit"},
        None,
    ),
    "segfault_ctypes": (
        "import ctypes\ndef f():\n    return ctypes.string_at(0)\n",
        check_one(""),
        {"crashed"},
        None,
    ),
    "deep_recursion": (
        "def f(n=0):\n    return f(n + 1)\n",
        check_one(""),
        {"error:RecursionError"},
        None,
    ),
    "deep_recursion_raised_limit": (
        "import sys\nsys.setrecursionlimit(10**8)\ndef f(n=0):\n    return f(n + 1)\n",
        check_one(""),
        {"crashed", "error:RecursionError", "memory_exceeded", "timeout"},
        None,
    ),
    "kill_parent": (
        "import os, signal\ndef f():\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 1\n",
        check_one(""),
        {"error:PermissionError", "error:ProcessLookupError"},
        None,
    ),
    "kill_everything": (
        # kill(-1) reaches only processes of the job's own uid, never the caller itself. The
        # judge of a check function is another uid: kill(-1) then succeeds (Linux counts the
        # EPERM) without reaching it, and the correct answer passes.
        "import os, signal\ndef f():\n    os.kill(-1, signal.SIGKILL)\n    return 1\n",
        check_one(""),
        {"error:ProcessLookupError", "passed"},
        None,
    ),
    "reads_stdin": ("def f():\n    return input()\n", check_one(""), {"error:EOFError"}, None),
    "exit_before_function": ("import sys\nsys.exit(0)\ndef f():\n    return 1\n", check_one(""), {"error:SystemExit"}, None),
    "exit_inside_function": ("import sys\ndef f():\n    sys.exit(0)\n", check_one(""), {"error:SystemExit"}, None),
    "os_exit_inside_function": ("import os\ndef f():\n    os._exit(0)\n", check_one(""), {"no_result"}, None),
    "kills_itself": ("import os, signal\ndef f():\n    os.kill(os.getpid(), signal.SIGKILL)\n", check_one(""), {"crashed"}, None),
    "fake_passed_markers": (
        "import sys\ndef f():\n"
        "    for stream in (sys.stdout, sys.stderr):\n"
        "        print('passed', file=stream)\n"
        "        print('[\"0123456789abcdef0123456789abcdef\", \"T\", 0, \"passed\", \"\", 1.0, null]', file=stream)\n"
        "        stream.flush()\n"
        "    return 2\n",
        check_one(""),
        {"failed"},
        None,
    ),
    "fake_record_on_every_fd": (
        "import os\ndef f():\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        "            os.write(fd, b'[\"x\", \"T\", 0, \"passed\", \"\", 1.0, null]\\n')\n"
        "        except OSError:\n"
        "            pass\n"
        "    return 2\n",
        check_one(""),
        {"failed", "no_result"},  # no_result: the line also reached the judge's socket, which ends the run
        None,
    ),
    "fork_and_guess": (
        "import os, time\ndef f():\n"
        "    for guess in range(3):\n"
        "        if os.fork() == 0:\n"
        "            return guess\n"
        "    time.sleep(0.3)\n"
        "    return 99\n",
        check_one("", expected=1),
        {"failed"},
        None,
    ),
    "double_fork_daemon": (
        "import os, time\ndef f():\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(0.6)\n"
        f"            open({str(MARKER)!r}, 'w').write('late')\n"
        "            os._exit(0)\n"
        "        os._exit(0)\n"
        "    return 1\n",
        check_one(""),
        {"passed"},
        None,
    ),
    "writes_home_and_parent_cwd": (
        "import os\ndef f():\n    done = []\n"
        f"    for path in ({str(HOME_TARGET)!r}, {str(CWD_TARGET)!r}, {str(HOST_DIR / 'x')!r}, '/var/tmp/patflow-pwned', '/root/pwned'):\n"
        "        try:\n"
        "            open(path, 'w').write('pwned')\n"
        "            done.append(path)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return done\n",
        calls(),
        {"passed"},
        ([],),
    ),
    "reads_env_and_proc_environ": (
        "import os\ndef f():\n    found = [k for k, v in os.environ.items() if 'secret' in (k + v).lower()]\n"
        "    for pid in os.listdir('/proc'):\n"
        "        if pid.isdigit():\n"
        "            try:\n"
        "                data = open(f'/proc/{pid}/environ', 'rb').read()\n"
        "            except OSError:\n"
        "                continue\n"
        f"            if {SECRET.encode()!r} in data:\n"
        "                found.append(pid)\n"
        "    return found\n",
        calls(),
        {"passed"},
        ([],),
    ),
    "connects_to_loopback": (
        "import socket\ndef f():\n    try:\n"
        f"        socket.create_connection(('127.0.0.1', {PORT}), timeout=0.5)\n"
        "        return 'connected'\n"
        "    except OSError as error:\n"
        "        return 'refused'\n",
        calls(),
        {"passed"},
        ("refused",),
    ),
    "stdio_reads_past_input": (
        "import sys\nprint(sys.stdin.read().strip())\nprint(input())\n",
        StdioTests((("hello\n", "hello\n"),)),
        {"error:EOFError"},
        None,
    ),
    "assert_setup_exit": (
        "def f():\n    return 1\n",
        AssertTests(("assert f() == 1",), setup_code="import os\nos._exit(0)\n"),
        {"no_result"},
        None,
    ),
}


class _NeverPassed:
    """Accepted statuses of a forgery: anything but ``passed`` (the program is wrong)."""

    def __contains__(self, status: object) -> bool:
        return status != "passed"

    def __iter__(self):
        return iter(["anything but 'passed'"])


NEVER_PASSED = _NeverPassed()
# A wrong program (it never squares) against tests that hold their expected values in code.
SQUARES_CHECK = CheckFunctionTests(
    "def check(candidate):\n    assert candidate(3) == 9\n    assert candidate(12) == 144\n    assert candidate(-5) == 25\n", "f"
)
SQUARES_ASSERTS = AssertTests(("assert f(3) == 9", "assert f(12) == 144", "assert f(-5) == 25"))

FORGE_BYTECODE = """
import dis, sys
def f(*args):
    # The constant the caller loads right after this call is the expected value.
    frame = sys._getframe(1)
    for instruction in dis.get_instructions(frame.f_code):
        if instruction.offset > frame.f_lasti and instruction.opname == "LOAD_CONST":
            if not isinstance(instruction.argval, str):
                return instruction.argval
    return None
"""
FORGE_FRAME_LOCALS = """
import sys
def f(*args):
    frame = sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()) + list(frame.f_code.co_consts):
            if isinstance(value, int) and not isinstance(value, bool) and value not in args and value > 8:
                return value
        frame = frame.f_back
    return 0
"""
FORGE_GC_RUNNER = """
import gc, os
def f(*args):
    # Find whatever reports verdicts and report every test passed, then leave.
    for obj in gc.get_objects():
        emit = getattr(type(obj), "emit", None)
        if emit is not None and hasattr(obj, "nonce"):
            try:
                for index in range(3):
                    obj.emit("T", index, "passed", "", 1.0, None)
                obj.emit("D")
            except BaseException:
                pass
    os._exit(0)
"""
FORGE_GC_NONCE = """
import gc, os, re
def f(*args):
    # Any 32-hex-digit string in memory may be the nonce: forge records with each on every fd.
    found = set()
    for obj in gc.get_objects():
        if isinstance(obj, dict):
            for value in obj.values():
                if isinstance(value, str) and re.fullmatch('[0-9a-f]{32}', value):
                    found.add(value)
    for nonce in found:
        line = ''.join('["%s","T",%d,"passed","",1.0,null]\\n' % (nonce, i) for i in range(3))
        line += '["%s","D"]\\n' % nonce
        for fd in range(3, 64):
            try:
                os.write(fd, line.encode())
            except OSError:
                pass
    os._exit(0)
"""
FORGE_FRAMES_ON_FDS = """
import json, os
def frame(message):
    data = json.dumps(message).encode()
    return len(data).to_bytes(4, 'big') + data
# Before the real hello: a load failure whose status says passed, and a fake hello.
for fd in range(3, 64):
    for message in (["F", "passed", ""], ["L", {}], ["R", ["v", 9], []], ["T", 0, "passed"]):
        try:
            os.write(fd, frame(message))
        except OSError:
            pass
def f(*args):
    return -1
"""
FORGE_MODULE_LIE = """
class Liar(int):
    __module__ = 'builtins'
    __qualname__ = 'int'
    __eq__ = int.__ne__
    __ne__ = int.__eq__
    __hash__ = int.__hash__
def f(*args):
    return Liar(0)
"""
FORGE_EQ_OVERRIDE = """
class Anything:
    __module__ = 'collections'
    def __eq__(self, other):
        return True
    def __bool__(self):
        return True
    __hash__ = object.__hash__
def f(*args):
    return Anything()
"""
FORGE_REUSED_COMPARISON = """
class Always(str):
    __module__ = 'builtins'
    __eq__ = str.__ne__
    __hash__ = str.__hash__
def f(*args):
    return Always('x')
"""
FORGE_BUILTINS = """
import builtins, math
class Never(Exception):
    pass
builtins.AssertionError = Never
builtins.len = lambda x: 0
builtins.abs = lambda x: 0
math.isclose = lambda *a, **k: True
def f(*args):
    return 0
"""
FORGE_EARLY_EXIT = """
import os, sys
def f(*args):
    sys.stdout.write('passed\\n')
    sys.stdout.flush()
    os.close(3) if False else None
    for fd in range(3, 64):
        try:
            os.close(fd)
        except OSError:
            pass
    return 0
"""
FORGE_SYSTEM_EXIT = """
def f(*args):
    raise SystemExit(0)
"""
FORGE_RAISED_NAME = """
class passed(Exception):
    pass
def f(*args):
    raise passed('passed')
"""
FORGE_HELPER = """
def poly(xs, x):
    return 0
def f(xs):
    return 123.0
"""
FORGE_FUTURE_ARGS = """
import pickle, socket, sys
SEEN = []
def _future():
    # The batch of planned calls: a tuple of pickled (args, kwargs) somewhere up the stack, or
    # frames still waiting on one of this process's sockets.
    frame = sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if type(value) is tuple and len(value) > 1 and all(type(item) is bytes for item in value):
                try:
                    return [pickle.loads(item)[0][0] for item in value]
                except Exception:
                    pass
        frame = frame.f_back
    for fd in range(3, 64):
        try:
            peer = socket.socket(fileno=fd)
        except OSError:
            continue
        try:
            data = peer.recv(1 << 20, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            if len(data) > 4:
                message = pickle.loads(data[4:])
                if message[0] == "B":
                    return [pickle.loads(item)[0][0] for item in message[2]]
        except Exception:
            pass
        finally:
            peer.detach()
    return []
def f(x):
    SEEN.append(x)
    future = _future()
    # A swap test (f(3) == 9, f(9) == 3): the next call's argument, then the previous one's.
    if len(SEEN) < len(future):
        return future[len(SEEN)]
    return SEEN[-2] if len(SEEN) > 1 else 0
"""
# Expected values that are other calls' arguments: a batch would show the candidate the
# second argument before its first answer (``sandbox/_child/child_plan.py`` sends none then).
SWAP_CHECK = CheckFunctionTests("def check(candidate):\n    assert candidate(3) == 9\n    assert candidate(9) == 3\n", "f")
SWAP_ASSERTS = AssertTests(("assert f(3) == 9", "assert f(9) == 3"), entry_point="f")
# name -> (program, tests, accepted statuses, expected outputs): a wrong program that tries to
# forge a pass, in both formats whose test code used to run beside the candidate.
FORGERY_CASES: dict[str, tuple[str, object, object, object]] = {
    "forge_bytecode_constant_check": (FORGE_BYTECODE, SQUARES_CHECK, NEVER_PASSED, None),
    "forge_bytecode_constant_asserts": (FORGE_BYTECODE, SQUARES_ASSERTS, NEVER_PASSED, None),
    "forge_frame_locals_check": (FORGE_FRAME_LOCALS, SQUARES_CHECK, NEVER_PASSED, None),
    "forge_frame_locals_asserts": (FORGE_FRAME_LOCALS, SQUARES_ASSERTS, NEVER_PASSED, None),
    "forge_gc_runner_check": (FORGE_GC_RUNNER, SQUARES_CHECK, NEVER_PASSED, None),
    "forge_gc_runner_asserts": (FORGE_GC_RUNNER, SQUARES_ASSERTS, NEVER_PASSED, None),
    "forge_gc_nonce_on_every_fd_check": (FORGE_GC_NONCE, SQUARES_CHECK, NEVER_PASSED, None),
    "forge_gc_nonce_on_every_fd_asserts": (FORGE_GC_NONCE, SQUARES_ASSERTS, NEVER_PASSED, None),
    "forge_frames_on_every_fd_check": (FORGE_FRAMES_ON_FDS, SQUARES_CHECK, NEVER_PASSED, None),
    "forge_frames_on_every_fd_asserts": (FORGE_FRAMES_ON_FDS, SQUARES_ASSERTS, NEVER_PASSED, None),
    "forge_module_lie_int_ne_check": (FORGE_MODULE_LIE, SQUARES_CHECK, NEVER_PASSED, None),
    "forge_module_lie_int_ne_asserts": (FORGE_MODULE_LIE, SQUARES_ASSERTS, NEVER_PASSED, None),
    "forge_eq_override_check": (FORGE_EQ_OVERRIDE, SQUARES_CHECK, NEVER_PASSED, None),
    "forge_eq_override_asserts": (FORGE_EQ_OVERRIDE, SQUARES_ASSERTS, NEVER_PASSED, None),
    "forge_reused_str_ne_check": (FORGE_REUSED_COMPARISON, SQUARES_CHECK, NEVER_PASSED, None),
    "forge_reused_str_ne_asserts": (FORGE_REUSED_COMPARISON, SQUARES_ASSERTS, NEVER_PASSED, None),
    "forge_builtins_patched_check": (FORGE_BUILTINS, SQUARES_CHECK, NEVER_PASSED, None),
    "forge_builtins_patched_asserts": (FORGE_BUILTINS, SQUARES_ASSERTS, NEVER_PASSED, None),
    "forge_closes_fds_and_prints_check": (FORGE_EARLY_EXIT, SQUARES_CHECK, NEVER_PASSED, None),
    "forge_closes_fds_and_prints_asserts": (FORGE_EARLY_EXIT, SQUARES_ASSERTS, NEVER_PASSED, None),
    "forge_system_exit_zero_check": (FORGE_SYSTEM_EXIT, SQUARES_CHECK, NEVER_PASSED, None),
    "forge_system_exit_zero_asserts": (FORGE_SYSTEM_EXIT, SQUARES_ASSERTS, NEVER_PASSED, None),
    "forge_exception_named_passed_check": (FORGE_RAISED_NAME, SQUARES_CHECK, NEVER_PASSED, None),
    "forge_exception_named_passed_asserts": (FORGE_RAISED_NAME, SQUARES_ASSERTS, NEVER_PASSED, None),
    "forge_batch_future_args_check": (FORGE_FUTURE_ARGS, SWAP_CHECK, NEVER_PASSED, None),
    "forge_batch_future_args_asserts": (FORGE_FUTURE_ARGS, SWAP_ASSERTS, NEVER_PASSED, None),
    "forge_batch_future_args_squares_check": (FORGE_FUTURE_ARGS, SQUARES_CHECK, NEVER_PASSED, None),
    # A test helper the program redefines: the judge uses the trusted one (HumanEval/32's poly).
    "forge_redefined_helper": (
        FORGE_HELPER,
        CheckFunctionTests(
            "def check(candidate):\n    x = candidate([1.0, -2.0])\n    assert abs(poly([1.0, -2.0], x)) < 1e-6\n",
            "f",
            helpers="def poly(xs, x):\n    return sum(c * x ** i for i, c in enumerate(xs))\n",
        ),
        NEVER_PASSED,
        None,
    ),
}
CASES.update(FORGERY_CASES)


def _cgroup_tree_pids() -> set[int]:
    """Every process in this jail's pids cgroup and below (v1 lists only direct members)."""
    root = None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            root = Path("/sys/fs/cgroup/pids" + path)
    pids: set[int] = set()
    if root is None or not root.is_dir():
        return pids
    for directory, _dirs, files in os.walk(root):
        if "cgroup.procs" in files:
            try:
                pids.update(int(x) for x in (Path(directory) / "cgroup.procs").read_text().split())
            except OSError:
                pass
    return pids


def _expected_pids() -> set[int]:
    pids = {os.getpid()} | launch.idle_judge_host_pids()
    server = launch._server
    if server is not None and server.alive():
        pids.add(server.process.pid)
        try:
            import psutil

            pids.update(child.pid for child in psutil.Process(server.process.pid).children(recursive=True))
        except Exception:  # noqa: BLE001
            pass
    return pids


def _server_processes() -> int:
    server = launch._server
    if server is None:
        return 0
    import psutil

    try:
        return 1 + len(psutil.Process(server.process.pid).children(recursive=True))
    except psutil.Error:
        return 0


def _leftovers(settle_s: float = 3.0) -> list[int]:
    deadline = time.monotonic() + settle_s
    while True:
        left = sorted(_cgroup_tree_pids() - _expected_pids())
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _accepted_connections() -> int:
    count = 0
    while True:
        try:
            connection, _ = LISTENER.accept()
            connection.close()
            count += 1
        except (socket.timeout, BlockingIOError, OSError):
            return count


# Zero-filling 256 MB takes over a second on a loaded 2-core VM: give the bomb time to hit the limit.
LIMITS_OVERRIDE = {"memory_bomb": Limits(timeout_s=20.0, memory_mb=256, max_processes=16, file_size_mb=8)}


def run_case(name: str) -> dict:
    program, tests, accepted, expected_outputs = CASES[name]
    started = time.monotonic()
    result = execute(ExecutionRequest(program, tests, LIMITS_OVERRIDE.get(name, LIMITS)))
    elapsed_s = time.monotonic() - started
    problems = []
    if result.status not in accepted:
        problems.append(f"status {result.status!r} not in {sorted(accepted)}: {result.tests[0].detail}")
    if expected_outputs is not None and result.outputs != expected_outputs:
        problems.append(f"outputs {result.outputs!r} != {expected_outputs!r}")
    left = _leftovers()
    if left:
        problems.append(f"left running: {left}")
    # Jobs (and anything they left) live under the fork server: once the run is over only the
    # launcher, the zygote and the idle judges may remain. The job may take a moment to exit.
    deadline = time.monotonic() + 3.0
    while _server_processes() > 2 + launch.idle_judges() and time.monotonic() < deadline:
        time.sleep(0.05)
    if _server_processes() > 2 + launch.idle_judges():
        problems.append(f"fork server has {_server_processes()} processes, expected {2 + launch.idle_judges()}")
    if name == "double_fork_daemon":
        time.sleep(1.0)  # the daemon would have written by now
    for path in (MARKER, HOME_TARGET, CWD_TARGET, HOST_DIR / "x", Path("/var/tmp/patflow-pwned"), Path("/root/pwned")):
        if path.exists():
            problems.append(f"the program wrote {path}")
            path.unlink()
    if _accepted_connections():
        problems.append("a connection reached the 127.0.0.1 listener")
    probe = execute(ExecutionRequest("def f():\n    return 1\n", check_one(""), LIMITS))
    if not probe.passed:
        problems.append(f"the sandbox no longer works after this case: {probe.status}")
    return {
        "name": name,
        "status": result.status,
        "detail": result.tests[0].detail if result.tests else "",
        "elapsed_s": round(elapsed_s, 3),
        "problems": problems,
    }


PROVE_DROP_PROGRAM = """
import os, time
def f():
    uids = list(os.getresuid()) + list(os.getresgid())
    try:
        os.setuid(0)
        regained = True
    except PermissionError:
        regained = False
    started = 0
    children = []
    for _ in range(200):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(2)
            os._exit(0)
        children.append(pid)
        started += 1
    return [uids, regained, started]
"""


def prove_privilege_drop() -> dict:
    """The drop is real: non-zero uids, no way back to root, RLIMIT_NPROC holds (as root it does not)."""
    limits = Limits(timeout_s=10.0, memory_mb=512, max_processes=16)
    result = execute(ExecutionRequest(PROVE_DROP_PROGRAM, CallTests("f", ((),), expected=None), limits))
    uids, regained, started = result.outputs[0] if result.outputs and result.outputs[0] else ([0], True, -1)
    return {
        "status": result.status,
        "uids": uids,
        "regained_root": regained,
        "processes_started": started,
        "max_processes": limits.max_processes,
        "left_running": _leftovers(),
    }


def main(names: list[str]) -> None:
    if names == ["--prove-drop"]:
        print(json.dumps(prove_privilege_drop()), flush=True)
        launch._shutdown_server()
        return
    for name in names or list(CASES):
        print(json.dumps(run_case(name)), flush=True)
    launch._shutdown_server()
    threading.Thread(target=LISTENER.close).start()


if __name__ == "__main__":
    main(sys.argv[1:])
