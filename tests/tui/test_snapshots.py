"""Snapshot tests of the four screens at 80×24 (compact) and 120×40 (pytest-textual-snapshot).

Regenerate after a deliberate UI change with ``.venv/bin/pytest tests/tui/test_snapshots.py
--snapshot-update`` and review the SVGs in tests/tui/__snapshots__/.
"""

import pytest

from vramtui.tui.app import VramApp

SCREENS = {"model": "f2", "workload": "f3", "optimizations": "f4", "gpus": "f5"}


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_snapshot(snap_compare, screen, size):
    assert snap_compare(VramApp(), terminal_size=size, press=[SCREENS[screen]])
