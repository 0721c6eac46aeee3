"""The sandbox's main test: a table of hostile programs, each with its expected verdict.

Every hostile program runs inside ``../shared/tools/jail.sh`` (a throwaway pids + memory
cgroup that outlives nothing), through ``conformance_cases.py``. The privilege-drop proof runs
first, also jailed. For each case the script checks the verdict, that the host survived, and
that nothing the case started is still running; jail.sh then reports what was left at exit.
The table also runs (a subset) in the two fallback configurations: one fresh interpreter per
execution (``PATFLOW_SANDBOX_MODE=spawn``) and no namespaces (``PATFLOW_SANDBOX_NAMESPACES=0``).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
SCRIPT = HERE / "conformance_cases.py"
# The pids+memory cgroup jail every hostile program runs in: ../shared's, or PATFLOW_JAIL's.
JAIL = Path(os.environ.get("PATFLOW_JAIL") or REPO_ROOT.parent / "shared" / "tools" / "jail.sh")
JAIL_PIDS = "1024"
JAIL_MEMORY_BYTES = str(4 * 1024**3)


def _case_names() -> list[str]:
    """The keys of the script's CASES and FORGERY_CASES literals (read, not imported)."""
    tree = ast.parse(SCRIPT.read_text())
    names: dict[str, list[str]] = {}
    for node in tree.body:
        target = getattr(node, "target", None) or (node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id in ("CASES", "FORGERY_CASES") and isinstance(node.value, ast.Dict):
            names[target.id] = [key.value for key in node.value.keys]
    assert set(names) == {"CASES", "FORGERY_CASES"}, "CASES or FORGERY_CASES not found in conformance_cases.py"
    return names["CASES"] + names["FORGERY_CASES"]


CASE_NAMES = _case_names()
# Cases whose expectations hold in every configuration (the file-system ones need a mount
# namespace: without one, world-writable host directories are writable by the job's uid).
FALLBACK_CASES = [
    "infinite_loop",
    "fork_bomb",
    "os_exit_inside_function",
    "fake_record_on_every_fd",
    "double_fork_daemon",
    "reads_env_and_proc_environ",
]


def _run_jailed(args: list[str], extra_env: dict[str, str] | None = None) -> tuple[list[dict], str]:
    if not JAIL.is_file():
        pytest.skip(
            f"no jail at {JAIL}: set PATFLOW_JAIL to a pids+memory cgroup jail (../shared/tools/jail.sh)"
            "; hostile programs never run unjailed"
        )
    env = {**os.environ, **(extra_env or {})}
    completed = subprocess.run(
        [str(JAIL), JAIL_PIDS, JAIL_MEMORY_BYTES, "--", sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO_ROOT,
    )
    if completed.returncode == 3 and "refusing" in completed.stderr:
        pytest.skip("no writable pids cgroup for jail.sh here")
    rows = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    assert completed.returncode == 0, completed.stderr[-2000:]
    return rows, completed.stderr


def _left_by_jail(stderr: str) -> int:
    match = re.search(r"processes the command left running: (\d+)", stderr)
    assert match, stderr[-2000:]
    return int(match.group(1))


@pytest.fixture(scope="module")
def privilege_drop():
    rows, stderr = _run_jailed(["--prove-drop"])
    assert _left_by_jail(stderr) == 0
    return rows[0]


def test_privilege_drop_is_real_and_caps_processes(privilege_drop):
    if os.getuid() != 0:
        pytest.skip("not root: there is no privilege to drop")
    assert privilege_drop["status"] == "passed"
    assert all(uid != 0 for uid in privilege_drop["uids"]), privilege_drop
    assert privilege_drop["regained_root"] is False
    # As root RLIMIT_NPROC is ignored (all 200 forks would succeed); after the drop it holds.
    assert 0 < privilege_drop["processes_started"] < privilege_drop["max_processes"], privilege_drop
    assert privilege_drop["left_running"] == []


@pytest.fixture(scope="module")
def default_table(privilege_drop):
    rows, stderr = _run_jailed([])
    return {row["name"]: row for row in rows}, stderr


@pytest.mark.parametrize("name", CASE_NAMES)
def test_hostile_program(default_table, name):
    rows, _ = default_table
    assert name in rows, f"case {name} produced no row (did the runner die?)"
    row = rows[name]
    assert row["problems"] == [], f"{name}: {row}"


def test_jail_found_nothing_left_running(default_table):
    _, stderr = default_table
    assert _left_by_jail(stderr) == 0


@pytest.mark.parametrize(
    "config",
    [{"PATFLOW_SANDBOX_MODE": "spawn"}, {"PATFLOW_SANDBOX_NAMESPACES": "0"}],
    ids=["spawn", "no-namespaces"],
)
def test_fallback_configurations_hold_the_same_verdicts(privilege_drop, config):
    rows, stderr = _run_jailed(FALLBACK_CASES, config)
    by_name = {row["name"]: row for row in rows}
    assert sorted(by_name) == sorted(FALLBACK_CASES)
    failures = {name: row["problems"] for name, row in by_name.items() if row["problems"]}
    assert failures == {}
    assert _left_by_jail(stderr) == 0
