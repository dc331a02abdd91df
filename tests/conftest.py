"""Shared fixtures: every test gets its own scenarios folder; hypothesis runs reproducibly."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# `make test` (and so CI) draws the same examples on every run, so a pass or a failure means the same
# thing on every machine; `make test-explore` draws fresh random examples, many more of them, to hunt
# for new edge cases (each one found is pinned with @example, as in test_properties.py)
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Never touch the user's real scenarios folder."""
    monkeypatch.setenv("VRAMTUI_HOME", str(tmp_path / "vramtui-home"))
