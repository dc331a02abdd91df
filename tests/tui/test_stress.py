"""The TUI under stress: tiny to huge terminals and resizes, a thousand rapid edits, garbage pasted into
every field. No crash, the last valid scenario stays, the layout stays usable."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from vramtui.tui.app import VramApp

from .helpers import summary, summary_part

SIZES = [(40, 12), (60, 20), (80, 24), (120, 40), (200, 60), (300, 100)]
GARBAGE = ["", "   ", "-1", "0", "1e309", "nan", "inf", "9" * 60, "８ｋ", "32kk", "1,0,0", "DROP TABLE", "\x00\x1b[2J",
           "🙂🙂", "0x10", "1_000_000_000_000", "-0", "3.5", "k", "∞"]


async def test_every_screen_at_every_size_with_resizes_between():
    app = VramApp()
    async with app.run_test(size=SIZES[0]) as pilot:
        for size in SIZES + SIZES[::-1]:
            await pilot.resize_terminal(*size)
            for key in ("f2", "f3", "f4", "f5"):
                await pilot.press(key)
                await pilot.pause()
                # the verdict is on screen at every size, and the summary never loses it
                assert "FITS" in summary_part(pilot, "totals")
                assert app.screen.query_one("#summary").region.height >= 3
            assert app.has_class("-compact") == (size[0] < 100 or size[1] < 30)


async def test_a_thousand_rapid_edits_end_on_the_last_value():
    app = VramApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        box = app.screen.query_one("#context_length", Input)
        box.focus()
        for i in range(1000):
            box.value = str(1024 + i)  # each assignment is an edit: parsed, validated, estimated, rendered
        await pilot.pause()
        assert app.scenario.workload.context_length == 1024 + 999
        assert f"{1024 + 999} ctx" in summary(pilot).replace(",", "")


async def test_garbage_pasted_into_every_field_keeps_the_last_valid_scenario():
    app = VramApp()
    async with app.run_test(size=(120, 40)) as pilot:
        for screen_key in ("f2", "f3", "f4", "f5"):
            await pilot.press(screen_key)
            await pilot.pause()
            for box in list(app.screen.query(Input)):
                for text in GARBAGE:
                    before = app.scenario
                    box.focus()
                    box.value = ""
                    box.post_message(events.Paste(text))
                    await pilot.pause()
                    now = app.scenario
                    if now != before:  # only a valid value may change the scenario
                        assert now.workload.context_length >= 1 and now.workload.batch_size >= 1
                # a well-formed value after the garbage is taken again
            assert "FITS" in summary_part(pilot, "totals") or "DOES NOT FIT" in summary_part(pilot, "totals")
        await pilot.press("f3")
        box = app.screen.query_one("#context_length", Input)
        box.focus()
        box.value = "16k"
        await pilot.pause()
        assert app.scenario.workload.context_length == 16384
