"""Shared test setup: the environment defaults (``flows/environment.py``), offline; the real
datasets from ../shared when they are beside the checkout; zero retry waits.

A test that needs a benchmark file patflow does not bundle uses the ``require_builtin`` fixture: it
skips, naming the file and ``PATFLOW_DATA_DIR``, when the file is not on disk. Nothing in the
suite downloads (``PATFLOW_OFFLINE=1``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows import environment

environment.apply(environment.TEST_DEFAULTS)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"
if SHARED_DATASETS.is_dir():
    os.environ.setdefault("PATFLOW_DATA_DIR", str(SHARED_DATASETS))

DATA_HINT = "set PATFLOW_DATA_DIR to a directory laid out like shared/datasets (or put ../shared beside the checkout)"


def skip_unless_builtin(name: str) -> None:
    """Skip the calling test unless the built-in benchmark ``name``'s file is on disk."""
    from tasks.benchmarks.sources import BUILTIN_SOURCES, locate, resolve_data_dir

    source = BUILTIN_SOURCES[name]
    if locate(source, None) is None:
        expected = resolve_data_dir(None) / source.subdir / source.file_name
        pytest.skip(f"needs the {name} file {source.subdir}/{source.file_name} (not at {expected}); {DATA_HINT}")


@pytest.fixture
def require_builtin():
    """``require_builtin("mbpp")`` in a test: skip with the reason unless the file is on disk."""
    return skip_unless_builtin


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"needs ../shared/datasets beside this checkout (the pinned upstream files); {DATA_HINT}")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def prefect_harness():
    """One ephemeral Prefect API for the whole session (each start costs 8-16 s here)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def demo_store(prefect_harness, tmp_path_factory) -> Path:
    """A small real sweep (run id ``demo``): 4 HumanEval problems, standard and pat."""
    from typer.testing import CliRunner

    from flows.cli import app

    root = tmp_path_factory.mktemp("demo")
    store = root / "runs"
    result = CliRunner().invoke(
        app,
        [
            "run", "--benchmark", "humaneval", "--limit", "4", "--seeds", "1",
            "--store", str(store), "--cache-dir", str(root / "cache"), "--run-id", "demo",
            "--chunk-size", "4", "--workers", "1",
        ],
    )
    assert result.exit_code == 0, result.output
    return store
