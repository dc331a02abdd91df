"""Shared fixtures: every test gets its own scenarios folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Never touch the user's real scenarios folder."""
    monkeypatch.setenv("VRAMTUI_HOME", str(tmp_path / "vramtui-home"))
