"""Pilot helpers: reach a field with Tab only, and read what the screen shows."""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Static


async def tab_to(pilot: Pilot, widget_id: str | type, limit: int = 40) -> None:
    """Press Tab until the widget with this id (or of this class) has focus — keyboard only, like a user."""
    for _ in range(limit):
        focused = pilot.app.focused
        if focused is not None and (focused.id == widget_id if isinstance(widget_id, str) else isinstance(focused, widget_id)):
            return
        await pilot.press("tab")
    raise AssertionError(f"Tab never reached {widget_id}; focus is on {pilot.app.focused}")


async def type_into(pilot: Pilot, widget_id: str, text: str, screen_key: str = "f3") -> None:
    """Go to a screen, Tab to a field and type (its text is selected on focus, so typing replaces it)."""
    await pilot.press(screen_key)
    await tab_to(pilot, widget_id)
    await pilot.press(*text)
    await pilot.pause()


async def run_from_palette(pilot: Pilot, command: str) -> None:
    """Open the command palette with ctrl+p, type the command's name and run the match with Enter."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*command)
    await pilot.pause(0.3)  # the palette searches in a worker
    await pilot.press("enter")
    await pilot.pause()


def shown(pilot: Pilot, selector: str) -> str:
    """The plain text a Static currently shows (Rich renderables rendered at the widget's width)."""
    widget = pilot.app.screen.query_one(selector, Static)
    content = widget.content
    if isinstance(content, (str, Text)):
        return str(content)
    console = Console(width=max(40, widget.size.width), record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


def summary_part(pilot: Pilot, part: str) -> str:
    """One line of the summary panel as it shows it now: line, totals, bar, legend, warnings or status."""
    from vramtui.tui.widgets.summary import SummaryPanel

    return str(pilot.app.screen.query_one(SummaryPanel).parts.get(part, ""))


def summary(pilot: Pilot) -> str:
    return "\n".join(summary_part(pilot, part) for part in ("line", "totals", "legend"))


def table_rows(pilot: Pilot, selector: str) -> list[list[str]]:
    table = pilot.app.screen.query_one(selector, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
