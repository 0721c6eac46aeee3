"""Fixtures of the storage and SQL tests; the result builders live in storage_builders.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def store(tmp_path):
    return tmp_path / "store"
