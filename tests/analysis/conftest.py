"""Fixtures of the analysis tests; they build stores with tests/storage/storage_builders.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))


@pytest.fixture
def store(tmp_path):
    return tmp_path / "store"
