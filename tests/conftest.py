"""Shared test setup: offline defaults, the real datasets from ../shared, zero retry waits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_HOME", str(Path.home() / ".prefect"))
if SHARED_DATASETS.is_dir():
    os.environ.setdefault("PATFLOW_DATA_DIR", str(SHARED_DATASETS))


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip("../shared/datasets is not beside this checkout")
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
