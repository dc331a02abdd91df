"""The first screen as it opens: the numbers in the first frame, the Workload form right after it."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from vramtui.tui import app as app_module
from vramtui.tui.app import VramApp
from vramtui.tui.widgets.form import FieldRow

from .helpers import summary_part

SIZE = (120, 40)


async def test_the_numbers_come_first_then_the_form_with_the_first_field_focused():
    seen: dict[str, object] = {}

    class Watched(VramApp):
        CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))  # a subclass reads it beside itself

        async def on_ready(self) -> None:  # Textual's Ready: the first frame is on the terminal
            seen["totals"] = str(self.screen.query_one("SummaryPanel").parts.get("totals", ""))  # type: ignore[attr-defined]
            seen["rows"] = len(self.screen.query(FieldRow))
            await super().on_ready()

    app = Watched()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "GiB per GPU" in str(seen["totals"]) and "FITS" in str(seen["totals"])
        assert seen["rows"] == 0  # the form is not part of the first frame

        assert len(app.screen.query(FieldRow)) == 8
        assert app.focused is not None and app.focused.id == "mode"
        assert app.screen.query_one("#context_length", Input).value == "8K"
        await pilot.press("tab", "tab", "tab", "tab")  # mode → weights → kv cache → batch → context
        await pilot.press(*"32k")
        await pilot.pause()
        assert app.scenario.workload.context_length == 32768
        assert "32K ctx" in summary_part(pilot, "line")


async def test_the_breakdown_is_laid_out_once_per_width_and_follows_a_resize():
    """The breakdown keeps its table's lines per width (Textual draws a widget more than once a frame);
    what it draws is the table itself at each width, and a narrower terminal re-wraps it."""
    from rich.console import Console

    from vramtui.tui.widgets.breakdown import Breakdown, _LaidOutOnce

    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = app.screen.query_one(Breakdown).content
        assert isinstance(shown, _LaidOutOnce)
        for width in (118, 60, 118):
            for colours in ("truecolor", None):
                console = Console(width=width, color_system=colours)
                with console.capture() as kept:
                    console.print(shown)
                with console.capture() as table:
                    console.print(shown.table)
                assert kept.get() == table.get()
            assert max(map(len, kept.get().splitlines())) <= width
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        breakdown = app.screen.query_one(Breakdown)
        drawn = [strip.text.rstrip() for strip in breakdown.render_lines(breakdown.region.reset_offset)]
        assert breakdown.region.width <= 80 and any("KV cache" in line for line in drawn)
        assert all(len(line) <= breakdown.region.width for line in drawn)


async def test_a_screen_key_typed_ahead_of_the_first_frame_still_leaves_a_form_to_come_back_to():
    """A key typed before Textual's Ready (type-ahead over SSH) can switch screens first: the Workload
    form is then mounted when the screen is shown again."""

    class TypedAhead(VramApp):
        CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))

        async def on_ready(self) -> None:
            await self.switch_mode("model")  # F2, processed before the Ready event
            await super().on_ready()

    app = TypedAhead()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.current_mode == "model"
        await pilot.press("f3")
        await pilot.pause()
        assert len(app.screen.query(FieldRow)) == 8
        assert app.focused is not None and app.focused.id == "mode"
