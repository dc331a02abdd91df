"""Issue 13's defects, each reproduced by keys (or, for a race, by the render it loses) and fixed."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.widgets import Input

from vramtui.core.io import load_scenario
from vramtui.tui.app import VramApp
from vramtui.tui.paths import scenarios_dir
from vramtui.tui.state import compute
from vramtui.tui.widgets.form import row_of

from ..builders import make
from .helpers import shown, summary, summary_part, tab_to

SIZE = (120, 40)


async def test_the_custom_form_keeps_a_moe_model_a_moe_model():
    """Defect 1: Mixtral through the Custom form came back dense (7.2B, FITS on an RTX 4090)."""
    app = VramApp(make("mixtral-8x7b"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        await pilot.press("shift+tab", "right")  # the tabs, then Custom
        await pilot.pause()
        await tab_to(pilot, "custom-apply")
        await pilot.press("enter")
        await pilot.pause()
        spec = app.scenario.model.spec
        assert spec.num_experts == 8 and spec.num_experts_per_tok == 2 and spec.sliding_window is None
        assert spec.total_parameters == make("mixtral-8x7b").model.spec.total_parameters
        assert "DOES NOT FIT" in summary(pilot)


async def test_a_refused_choices_message_goes_once_a_later_edit_succeeds():
    """Defect 2: an error under a field stayed after its cause was gone."""
    app = VramApp(make(runtime="vllm"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await tab_to(pilot, "mode")
        await pilot.press("right")  # LoRA on vLLM: refused
        await pilot.pause()
        assert row_of(app.screen.query_one("#mode")).has_class("-invalid")
        await tab_to(pilot, "kv_cache")
        await pilot.press("right")  # a change that is allowed
        await pilot.pause()
        assert not row_of(app.screen.query_one("#mode")).has_class("-invalid")


async def test_custom_form_errors_go_when_another_preset_fills_it():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        screen = app.screen
        screen.query_one("#custom-num_key_value_heads", Input).value = "x"  # not a number: flagged at the field
        screen.use_custom()
        await pilot.pause()
        assert row_of(screen.query_one("#custom-num_key_value_heads")).has_class("-invalid")
        await pilot.press(*"qwen2.5 7b", "enter")
        await pilot.pause()
        assert not row_of(screen.query_one("#custom-num_key_value_heads")).has_class("-invalid")


async def test_a_focused_field_is_never_rewritten_by_a_result_from_an_earlier_keystroke():
    """Defect 3: pasting 200k into Context gave 20▮0K: the render of "2" landed after "200k" was typed."""
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await tab_to(pilot, "context_length")
        await pilot.press(*"200k")
        await pilot.pause()
        stale = compute(app.scenario.replace("workload", context_length=2), "precise")
        app.screen.render_result(stale)  # what arrived late in a real terminal
        assert app.screen.query_one("#context_length", Input).value == "200k"
        await pilot.press("tab")  # leaving the field shows the scenario's spelling
        await pilot.pause()
        assert app.scenario.workload.context_length == 204800
        assert app.screen.query_one("#context_length", Input).value == "200K"


async def test_checkboxes_say_on_or_off_in_words():
    """Defect 5: ▐X▌ either way; only the colour told them apart."""
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await tab_to(pilot, "flash_attention")
        box = app.screen.query_one("#flash_attention")
        assert "on" in str(box.render())
        await pilot.press("space")
        await pilot.pause()
        assert "off" in str(box.render()) and app.scenario.optimizations.flash_attention is False


async def test_open_takes_the_name_save_took():
    """Defect 6: saved as ux70b, ctrl+o ux70b said 'cannot read'."""
    app = VramApp(make("llama-3.1-70b"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press(*"ux70b", "enter")
        await pilot.pause()
        assert (scenarios_dir() / "ux70b.toml").is_file()
    app2 = VramApp()
    async with app2.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        await tab_to(pilot, "open-path")  # typed, not picked from the list
        await pilot.press(*"ux70b", "enter")
        await pilot.pause()
        assert app2.scenario.model.preset == "llama-3.1-70b"
        assert app2.scenario == load_scenario(scenarios_dir() / "ux70b.toml")
        assert "Llama 3.1 70B" in summary(pilot) and "cannot read" not in summary_part(pilot, "status")


async def test_grid_arrows_mean_the_same_on_every_column_and_marks_do_not_move_rows():
    """Defect 4: ▲ meant descending on 'max ctx' and ascending on 'price'; after sorting by the mark
    column each space re-sorted and moved the cursor to another GPU."""
    from textual.coordinate import Coordinate

    from vramtui.tui.screens.gpus import COLUMN_INDEX


    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await pilot.pause()
        table = app.screen.query_one("#gpu-table")
        for col, arrow in (("max_ctx", "▼"), ("price", "▲"), ("speed", "▼")):
            table.cursor_coordinate = Coordinate(0, COLUMN_INDEX[col])
            await pilot.press("f9")
            await pilot.pause()
            assert f"{arrow}" in shown(pilot, "#gpu-hint")
            values = [app.result.by_gpu[gid] for gid in (r.value for r in table.rows)]
            key = {"max_ctx": lambda f: f.max_context, "price": lambda f: f.price_usd,
                   "speed": lambda f: f.tokens_per_s or 0}[col]
            nums = [key(f) for f in values]
            assert nums == sorted(nums, reverse=arrow == "▼")
        await pilot.press("ctrl+g")  # every preset: adding or dropping one keeps its row
        await pilot.pause()
        table.cursor_coordinate = Coordinate(3, COLUMN_INDEX["mark"])
        await pilot.press("f9")
        await pilot.pause()
        before = [r.value for r in table.rows]
        under = before[table.cursor_row]
        await pilot.press("space")
        await pilot.pause()
        assert [r.value for r in table.rows] == before  # not re-sorted by the new mark
        assert list(table.rows)[table.cursor_row].value == under


async def test_the_budget_box_reads_2k_and_counts_every_gpu_needed():
    app = VramApp(make("llama-3.1-70b", weights="q4_k_m", runtime="llama.cpp"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await tab_to(pilot, "budget")
        await pilot.press(*"2k")
        await pilot.pause()
        shown_ids = {r.value for r in app.screen.query_one("#gpu-table").rows}
        assert "rtx-4090" not in shown_ids  # it needs two: $3,200
        assert all(app.result.by_gpu[g].price_usd * app.result.by_gpu[g].gpus_needed <= 2000 for g in shown_ids)


async def test_the_name_column_shrinks_back_and_stays_in_view_while_scrolling():
    """Defect 12: after ctrl+g and back the name column stayed 51 wide; scrolling right hid the GPU name."""
    app = VramApp()
    async with app.run_test(size=(100, 30)) as pilot:  # where the longest names fit whole
        await pilot.press("f5")
        await pilot.pause()
        table = app.screen.query_one("#gpu-table")
        width = table.ordered_columns[1].content_width
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert table.ordered_columns[1].content_width > width  # some preset names are longer
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert table.ordered_columns[1].content_width == width
        assert table.fixed_columns == 2


async def test_the_summary_is_one_line_and_the_gpu_key_bar_keeps_f6_and_f7():
    """Defect 13: the summary wrapped mid-phrase ('-38.06 GiB, 4x⏎TP'); on the GPU screen the key bar
    cut to 'f6 Met…' even at 120 columns."""
    from vramtui.tui.widgets.keybar import KeyBar

    app = VramApp(make("llama-3.1-70b"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        assert "\n" not in summary_part(pilot, "totals").strip()
    async with VramApp().run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await pilot.pause()
        bar = str(pilot.app.screen.query_one(KeyBar).render())
        assert "f6 Method" in bar and "f7 GiB/GB" in bar


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_name_fits_headroom_gpus_and_price_are_on_screen_without_scrolling(size):
    """Defect 12, second half: at 80x24 only need/usable/fits/headroom showed; price and $/GiB fell off
    at 120 columns. The columns a choice rests on must be inside the table's visible width, all GPUs
    listed."""
    app = VramApp()
    async with app.run_test(size=size) as pilot:
        await pilot.press("f5")
        await pilot.pause()
        await pilot.press("ctrl+g")  # every preset: the longest names
        await pilot.pause()
        table = app.screen.query_one("#gpu-table")
        assert table.scroll_x == 0
        visible, right = set(), 0
        for column in table.ordered_columns:
            right += column.get_render_width(table)
            if right <= table.scrollable_content_region.width:
                visible.add(column.label.plain)
        assert {"GPU", "fits", "headroom", "GPUs", "price"} <= visible, (visible, table.scrollable_content_region.width)
        if size == (120, 40):
            assert {"tok/s", "need", "usable"} <= visible


async def test_f1_on_the_gpu_screen_explains_the_columns_in_the_scenarios_terms():
    """Friction: the grid's columns were unexplained; F1 gives a legend naming the GPU count used."""
    app = VramApp(make("llama-3.1-70b", runtime="vllm", tensor_parallel=2))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await pilot.pause()
        assert "F1 columns" in shown(pilot, "#gpu-hint")
        await pilot.press("f1")
        await pilot.pause()
        legend = Text.from_markup(shown(pilot, "#help-legend")).plain
        for column in ("fits", "headroom", "GPUs", "price", "tok/s", "max ctx", "need", "usable", "$/GiB"):
            assert f"{column} " in legend
        assert "2 GPUs of that card (TP 2 × PP 1 × DP 1)" in legend and "vLLM" in legend
        assert "pre-allocates" in legend  # vLLM's usable is a share of the card
        await pilot.press("escape", "f3", "f1")
        await pilot.pause()
        assert not app.screen.query("#help-legend")  # the legend is the GPU screen's


async def test_drop_downs_jump_to_what_is_typed():
    """Friction: q4_k_m was nine presses away from nf4-dq; typing its name now reaches it."""
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await tab_to(pilot, "runtime")
        await pilot.press(*"llama")
        await pilot.pause()
        assert app.scenario.workload.runtime == "llama.cpp"
        await tab_to(pilot, "weights")
        await pilot.press(*"q4_k_m")
        await pilot.pause()
        assert app.scenario.workload.weights == "q4_k_m"
        assert "Q4_K_M" in str(app.screen.query_one("#weights").render())
        await pilot.pause(1.1)  # a pause starts a new search; the same letter again steps through its options
        before = app.screen.query_one("#weights").value
        await pilot.press("q")
        await pilot.pause()
        after = app.screen.query_one("#weights").value
        assert after != before and after.startswith("q")
