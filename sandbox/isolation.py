"""``isolation_report()``: which isolation layers this machine gives the sandbox.

Probed in a throwaway interpreter (``_child.py probe``) that tries each layer the way an
execution does; the fork server line comes from starting (or finding) this process's server.
"""

from __future__ import annotations

import json
import subprocess
import sys

from sandbox import executor

LAYERS = (
    "rlimits",
    "privilege drop",
    "network namespace",
    "pid namespace",
    "mount namespace",
    "cgroup",
    "fork server",
)


def isolation_report() -> dict[str, str]:
    """Layer name -> "active" / "active (...)" / "unavailable: <why>", in a fixed order."""
    try:
        completed = subprocess.run(
            [sys.executable, "-I", str(executor.CHILD_SCRIPT), "probe"],
            capture_output=True,
            text=True,
            timeout=30,
            env=executor._child_env(),
            cwd="/",
        )
        probed = json.loads(completed.stdout or "{}")
        if completed.returncode != 0:
            probed = {}
    except (OSError, subprocess.TimeoutExpired, ValueError) as error:
        probed = {layer: f"unavailable: probe failed ({error})" for layer in LAYERS}
    if not executor._config()["namespaces"]:
        for layer in ("network namespace", "pid namespace", "mount namespace"):
            probed[layer] = "unavailable: disabled by PATFLOW_SANDBOX_NAMESPACES=0"
    probed.setdefault("cgroup", "unavailable: not probed")
    probed["fork server"], server_layers = executor.fork_server_status()
    if "cgroup" in server_layers:
        probed["cgroup"] = server_layers["cgroup"]
    return {layer: probed.get(layer, "unavailable: not probed") for layer in LAYERS}
