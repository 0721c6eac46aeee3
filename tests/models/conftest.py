"""Fixtures of the model-layer tests: zero retry waits, HumanEval problems, a real sim server."""

from __future__ import annotations

import pytest
from model_fixtures import SimServerProcess, free_port, humaneval_problems


@pytest.fixture(autouse=True)
def zero_retry_waits(monkeypatch):
    from tasks.models import client

    monkeypatch.setattr(client.RETRY, "base_delay_s", 0.0)


@pytest.fixture(scope="session")
def humaneval() -> list[Problem]:
    return humaneval_problems()


@pytest.fixture(scope="module")
def sim_server(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("sim-server")
    server = SimServerProcess(free_port(), log_dir / "server.log").start()
    yield server
    server.kill()
