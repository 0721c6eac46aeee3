"""``isolation_report()``: which isolation layers this machine gives the sandbox.

Probed in a throwaway interpreter (``python sandbox/_child probe``) that tries each layer the way an
execution does; the fork server line comes from starting (or finding) this process's server.
The judge line runs one check-function execution and reports whether its test code ran in a
process apart from the candidate's (a different pid and, as root, a different uid).
"""

from __future__ import annotations

import json
import subprocess
import sys

from sandbox import launch

LAYERS = (
    "rlimits",
    "privilege drop",
    "network namespace",
    "pid namespace",
    "mount namespace",
    "cgroup",
    "fork server",
    "judge",
)

_JUDGE_PROBE_PROGRAM = "import os\ndef f():\n    return [os.getpid(), os.getuid()]\n"
_JUDGE_PROBE_TEST = (
    "import os\n"
    "def check(candidate):\n"
    "    pid, uid = candidate()\n"
    "    assert pid != os.getpid()\n"
    "    assert uid != os.getuid() or os.getuid() != 0 and uid == os.getuid()\n"
)


def _judge_status() -> str:
    from sandbox.executor import execute
    from sandbox.types import CheckFunctionTests, ExecutionRequest

    try:
        result = execute(ExecutionRequest(_JUDGE_PROBE_PROGRAM, CheckFunctionTests(_JUDGE_PROBE_TEST, "f")))
    except Exception as error:  # noqa: BLE001 - a report line, not a crash
        return f"unavailable: probe failed ({type(error).__name__}: {error})"
    if not result.passed:
        return f"unavailable: the probe did not pass ({result.status}: {result.tests[0].detail if result.tests else ''})"
    return (
        "active (check-function and assert tests run in a judge process apart from the candidate's; "
        "only plain data crosses between them)"
    )


def isolation_report() -> dict[str, str]:
    """Layer name -> "active" / "active (...)" / "unavailable: <why>", in a fixed order."""
    try:
        completed = subprocess.run(
            [sys.executable, "-I", str(launch.CHILD_SCRIPT), "probe"],
            capture_output=True,
            text=True,
            timeout=30,
            env=launch._child_env(),
            cwd="/",
        )
        probed = json.loads(completed.stdout or "{}")
        if completed.returncode != 0:
            probed = {}
    except (OSError, subprocess.TimeoutExpired, ValueError) as error:
        probed = {layer: f"unavailable: probe failed ({error})" for layer in LAYERS}
    if not launch._config()["namespaces"]:
        for layer in ("network namespace", "pid namespace", "mount namespace"):
            probed[layer] = "unavailable: disabled by PATFLOW_SANDBOX_NAMESPACES=0"
    probed.setdefault("cgroup", "unavailable: not probed")
    probed["fork server"], server_layers = launch.fork_server_status()
    if "cgroup" in server_layers:
        probed["cgroup"] = server_layers["cgroup"]
    probed["judge"] = _judge_status()
    return {layer: probed.get(layer, "unavailable: not probed") for layer in LAYERS}
