"""The journeys of issue 3, by key presses only, asserting on what the screen shows and on files."""

from __future__ import annotations

import tomllib

import pytest
from textual.widgets import Tabs

from vramtui.core.io import load_scenario
from vramtui.tui.app import VramApp
from vramtui.tui.paths import scenarios_dir
from vramtui.tui.screens.gpus import COLUMN_INDEX
from vramtui.tui.widgets.form import row_of

from ..builders import make
from .helpers import run_from_palette, shown, summary, summary_part, tab_to, table_rows, type_into

SIZE = (120, 40)


async def test_pick_a_model_by_typing_part_of_its_name():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        await pilot.press(*"qwen2.5 14")
        await pilot.pause()
        rows = table_rows(pilot, "#model-table")
        assert rows and rows[0][0] == "qwen2.5-14b"
        assert all("qwen2.5" in r[0] and "14" in r[0] for r in rows)
        await pilot.press("enter")
        await pilot.pause()
        assert "Qwen2.5 14B" in summary(pilot)
        assert app.scenario.model.preset == "qwen2.5-14b"


async def test_context_32k_changes_total_and_kv_on_screen():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        before = summary(pilot)
        assert "K KV cache 1.00 GiB" in before and "18.06 GiB per GPU" in before
        await tab_to(pilot, "context_length")
        await pilot.press(*"32k")  # the field's text is selected on focus: typing replaces it
        await pilot.pause()
        after = summary(pilot)
        assert "32K ctx" in after
        assert "K KV cache 4.00 GiB" in after  # 4 × the 8K figure
        assert "18.06 GiB per GPU" not in after
        assert "KV cache" in shown(pilot, "#breakdown") and "32,768 tokens" in shown(pilot, "#breakdown")


async def test_invalid_context_is_flagged_at_the_field_and_never_reaches_the_estimator():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await type_into(pilot, "context_length", "32q")
        row = row_of(app.screen.query_one("#context_length"))
        assert row.has_class("-invalid")
        assert "is not a token count" in str(row.query_one(".field-note").content)
        # "3" and "32" were valid on the way and applied live; "32q" is not, so 32 stays
        assert app.scenario.workload.context_length == 32
        assert "32 ctx" in summary(pilot)
        await pilot.press("backspace", "k")
        await pilot.pause()
        assert not row.has_class("-invalid") and app.scenario.workload.context_length == 32768


async def test_switching_to_qlora_shows_optimizer_states():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        assert "optimizer" not in summary(pilot)
        await tab_to(pilot, "mode")
        await pilot.press("enter")  # open the list
        await pilot.press("down", "down", "enter")  # inference -> lora -> qlora
        await pilot.pause()
        text = summary(pilot)
        assert "qlora" in text and "nf4-dq" in text
        assert "O optimizer" in text and "L adapters" in text
        # optimizations that apply to QLoRA are enabled, the full-only one is greyed out with a reason
        await pilot.press("f4")
        await pilot.pause()
        assert not app.screen.query_one("#lora_rank").disabled
        offload = app.screen.query_one("#cpu_offload")
        assert offload.disabled and "full fine-tuning only" in str(row_of(offload).query_one(".field-note").content)


async def test_sort_gpu_grid_by_price_keeps_cursor_on_the_same_gpu():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await pilot.pause()
        for _ in range(COLUMN_INDEX["price"]):  # move the cursor to the price column
            await pilot.press("right")
        table = app.screen.query_one("#gpu-table")
        assert table.ordered_columns[table.cursor_column].label.plain == "price"
        await pilot.press("f9")
        await pilot.pause()
        prices = [float(r[COLUMN_INDEX["price"]].strip("$").replace(",", "")) for r in table_rows(pilot, "#gpu-table")]
        assert prices == sorted(prices) and len(prices) == len(app.scenario.hardware.gpus)
        await pilot.press("f9")  # again: descending
        await pilot.pause()
        prices = [float(r[COLUMN_INDEX["price"]].strip("$").replace(",", "")) for r in table_rows(pilot, "#gpu-table")]
        assert prices == sorted(prices, reverse=True)
        # the cursor stays on its GPU when a change re-sorts nothing but updates every cell
        await pilot.press("down", "down")
        gpu = table_rows(pilot, "#gpu-table")[table.cursor_row][1]
        await pilot.press("f3")
        await tab_to(pilot, "context_length")
        await pilot.press(*"16k")
        await pilot.press("f5")
        await pilot.pause()
        assert table_rows(pilot, "#gpu-table")[table.cursor_row][1] == gpu
        assert "16K ctx" in summary(pilot)


async def test_space_and_enter_choose_compared_and_verdict_gpus():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5", "ctrl+g")  # show every preset
        await pilot.pause()
        rows = table_rows(pilot, "#gpu-table")
        target = next(i for i, r in enumerate(rows) if "A5000" in r[1])
        table = app.screen.query_one("#gpu-table")
        step = "down" if target > table.cursor_row else "up"
        for _ in range(abs(target - table.cursor_row)):  # the cursor stayed on the RTX 4090's row
            await pilot.press(step)
        await pilot.press("space")
        await pilot.pause()
        assert "rtx-a5000" in app.scenario.hardware.gpus
        await pilot.press("enter")
        await pilot.pause()
        assert app.scenario.hardware.verdict_gpu == "rtx-a5000"
        assert "A5000" in summary(pilot)


async def test_save_then_open_in_a_new_app_shows_the_same_numbers():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await type_into(pilot, "context_length", "32k")
        assert "● modified" in app.title  # the title shows unsaved changes
        await pilot.press("ctrl+s")  # first save asks for a name
        await pilot.pause()
        await pilot.press(*"ctx32k-scenario", "enter")
        await pilot.pause()
        first = summary(pilot)
        assert "ctx32k-scenario.toml" in app.title and "modified" not in app.title
    path = scenarios_dir() / "ctx32k-scenario.toml"
    saved = tomllib.loads(path.read_text())
    assert saved["workload"]["context_length"] == 32768 and saved["model"] == {"preset": "llama-3.1-8b"}

    again = VramApp()
    async with again.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("enter")  # the only file in the scenarios folder
        await pilot.pause()
        assert summary(pilot) == first
        assert again.scenario == load_scenario(path)


async def test_malformed_file_shows_the_error_and_keeps_the_scenario(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text('schema = 1\n[model]\npreset = "llama-3.1-8b"\n[workload]\nbatch_size = -3\n')
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await type_into(pilot, "context_length", "16k")
        before, scenario = summary(pilot), app.scenario
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("enter")  # unsaved changes: the question defaults to Cancel
        await pilot.pause()
        assert app.scenario == scenario
        await pilot.press("ctrl+o", "tab", "tab", "enter")  # this time: Discard changes
        await pilot.pause()
        await tab_to(pilot, "open-path")
        await pilot.press(*str(bad), "enter")
        await pilot.pause()
        status = summary_part(pilot, "status")
        assert "broken.toml: workload.batch_size" in status and "greater than or equal to 1" in status
        assert "the current scenario is unchanged" in status
        assert app.scenario == scenario and summary(pilot) == before


async def test_quit_with_unsaved_changes_asks_first():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")  # the method switch is a view setting, not a change
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code == 0  # nothing to lose: no question asked
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await tab_to(pilot, "batch_size")
        await pilot.press(*"4")
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "UnsavedScreen"
        await pilot.press("escape")  # escape means back: still running, nothing lost
        await pilot.pause()
        assert app.is_running and app.scenario.workload.batch_size == 4


async def test_quit_offers_to_save_first_and_quits_once_saved():
    """Friction: the quit and open prompts offered only Discard or Cancel."""
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await type_into(pilot, "batch_size", "4")
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("tab", "enter")  # Save, then go on
        await pilot.pause()
        assert app.screen.__class__.__name__ == "SaveAsScreen" and app.is_running
        await pilot.press("ctrl+u", *"before-quit", "enter")
        await pilot.pause()
    saved = tomllib.loads((scenarios_dir() / "before-quit.toml").read_text())
    assert saved["workload"]["batch_size"] == 4
    assert app.return_code == 0  # it quit after saving


async def test_open_offers_to_save_first_then_shows_the_open_dialog():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await type_into(pilot, "batch_size", "3")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("ctrl+u", *"first", "enter")
        await pilot.pause()
        await tab_to(pilot, "batch_size")
        await pilot.press("ctrl+u", "5")
        await pilot.pause()
        assert app.scenario.workload.batch_size == 5
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("tab", "enter")  # Save, then go on: saved under its name, no question
        await pilot.pause()
        assert app.screen.__class__.__name__ == "OpenScreen"
    assert tomllib.loads((scenarios_dir() / "first.toml").read_text())["workload"]["batch_size"] == 5


async def test_method_and_unit_switches():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        assert "per GPU (precise)" in summary(pilot) and "guide" in summary(pilot)
        await pilot.press("f6")
        await pilot.pause()
        assert "per GPU (guide)" in summary(pilot) and "· precise 18.06 GiB" in summary(pilot)
        await pilot.press("f7")
        await pilot.pause()
        assert " GB" in summary(pilot) and "GiB" not in summary_part(pilot, "totals")


async def test_f1_help_names_the_focused_field_and_restores_focus():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await tab_to(pilot, "context_length")
        await pilot.press("f1")
        await pilot.pause()
        assert "Context" in shown(pilot, "#help-focused") and "8k" in shown(pilot, "#help-focused")
        assert "CTRL+S" in shown(pilot, "#help-keys")
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused.id == "context_length"


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
async def test_every_screen_renders_at_common_sizes(size):
    app = VramApp()
    async with app.run_test(size=size) as pilot:
        for key in ("f2", "f3", "f4", "f5"):
            await pilot.press(key)
            await pilot.pause()
            assert "GPU (precise)" in summary_part(pilot, "totals") and "FITS" in summary_part(pilot, "totals")
        assert app.has_class("-compact") == (size == (80, 24))


async def test_command_palette_reaches_screens_and_gpu_sorting():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await run_from_palette(pilot, "GPUs (f5)")
        assert app.screen.__class__.__name__ == "GPUScreen"
        await run_from_palette(pilot, "Sort GPUs by price")
        prices = [float(r[COLUMN_INDEX["price"]].strip("$").replace(",", "")) for r in table_rows(pilot, "#gpu-table")]
        assert prices == sorted(prices)


async def test_import_config_from_the_model_screen(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text('{"model_type": "qwen2", "vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944,'
                   ' "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4}')
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        await pilot.pause()
        await tab_to(pilot, Tabs)
        await pilot.press("right", "right")  # Presets -> Custom -> Import config.json
        await tab_to(pilot, "import-path")
        await pilot.press(*str(cfg), "enter")
        await pilot.pause()
        assert "7,615,616,512 parameters" in shown(pilot, "#import-result")
        assert app.scenario.model.config == str(cfg) and app.scenario.model.spec.total_parameters == 7_615_616_512


async def test_ctrl_up_and_down_scale_the_context_from_any_screen():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5", "ctrl+up")
        await pilot.pause()
        assert "16K ctx" in summary(pilot) and "K KV cache 2.00 GiB" in summary(pilot)
        await pilot.press("ctrl+down", "ctrl+down")
        await pilot.pause()
        assert "4K ctx" in summary(pilot)


async def test_the_key_bar_shows_active_keys_and_a_click_runs_one():
    from vramtui.tui.widgets.keybar import KeyBar

    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        bar = app.screen.query_one(KeyBar)
        text = str(bar.render())
        assert "f2 Model" in text and "f5 GPUs" in text and "^p palette" in text
        start, _end, action, _node = next(span for span in bar._spans if "gpus" in span[2])
        await pilot.click(KeyBar, offset=(start + 1, 0))
        await pilot.pause()
        assert app.screen.__class__.__name__ == "GPUScreen"
        assert "f9 Sort" in str(app.screen.query_one(KeyBar).render())  # the GPU screen's own keys


async def test_screens_in_other_modes_redraw_when_shown_not_on_every_edit(monkeypatch):
    from vramtui.tui.screens.workload import WorkloadScreen

    calls = []
    original = WorkloadScreen.render_result
    monkeypatch.setattr(WorkloadScreen, "render_result", lambda self, r: (calls.append(r.scenario), original(self, r)))
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        calls.clear()
        await pilot.press("ctrl+up", "ctrl+up", "ctrl+up")
        await pilot.pause()
        assert calls == []  # the hidden Workload screen did no work
        await pilot.press("f3")
        await pilot.pause()
        assert len(calls) == 1 and calls[0].workload.context_length == 65536
        assert "64K ctx" in summary(pilot)


async def test_opening_a_file_clears_a_flagged_field(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('schema = 1\n[model]\npreset = "qwen2.5-7b"\n[workload]\ncontext_length = 4096\n')
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await tab_to(pilot, "context_length")
        await pilot.press("backspace", "backspace", *"zz")
        await pilot.pause()
        row = row_of(app.screen.query_one("#context_length"))
        assert row.has_class("-invalid")
        assert app.open_path(good)
        await pilot.pause()
        assert not row.has_class("-invalid")
        assert app.screen.query_one("#context_length").value == "4K"


async def test_sequence_parallel_applies_to_tensor_parallel_training_and_is_saved():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await tab_to(pilot, "mode")
        await pilot.press("enter", "down", "down", "down", "enter")  # inference -> full
        await pilot.press("f4")
        await pilot.pause()
        sp = app.screen.query_one("#sequence_parallel")
        assert sp.disabled and "tensor parallel > 1" in str(row_of(sp).query_one(".field-note").content)
        await type_into(pilot, "tensor_parallel", "4", screen_key="f4")
        assert not sp.disabled
        before = shown(pilot, "#breakdown")
        assert "kept whole" in before  # the norms' activations are not split without it
        await tab_to(pilot, "sequence_parallel")
        await pilot.press("space")
        await pilot.pause()
        after = shown(pilot, "#breakdown")
        assert "÷ 4 TP" in after and "kept whole" not in after
        act = lambda text: next(line for line in text.splitlines() if "activations" in line)  # noqa: E731
        assert act(after) != act(before)
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press(*"tp4-sp", "enter")
        await pilot.pause()
    saved = tomllib.loads((scenarios_dir() / "tp4-sp.toml").read_text())
    assert saved["optimizations"]["sequence_parallel"] is True and saved["optimizations"]["tensor_parallel"] == 4


@pytest.mark.parametrize("word", ["theme", "quit", "help"])
async def test_the_palette_lists_each_command_once(word):
    """Friction: Textual's own Theme, Quit and Keys entries sat beside ours."""
    from textual.command import CommandList

    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*word)
        await pilot.pause(0.4)  # the palette searches in a worker
        options = app.screen.query_one(CommandList)
        titles = [str(options.get_option_at_index(i).prompt).split("\n")[0] for i in range(options.option_count)]
        firsts = [t for t in titles if t.lower().startswith(word) or t.lower().startswith("keys")]
        assert len(firsts) == 1, titles


async def test_qlora_fp32_upcast_is_shown_on_by_default_and_can_be_turned_off_and_saved():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await tab_to(pilot, "mode")
        await pilot.press("enter", "down", "down", "enter")  # inference -> qlora
        await pilot.pause()
        assert app.scenario.workload.mode == "qlora"
        await pilot.press("f4")
        await pilot.pause()
        box = app.screen.query_one("#kbit_upcast")
        assert box.value and not box.disabled
        assert "by default" in str(row_of(box).query_one(".field-note").content)
        before = app.result.precise.per_gpu["weights"]
        await tab_to(pilot, "kbit_upcast")
        await pilot.press("space")
        await pilot.pause()
        assert app.scenario.optimizations.kbit_upcast is False and app.result.precise.per_gpu["weights"] < before
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press(*"no-upcast", "enter")
        await pilot.pause()
    saved = tomllib.loads((scenarios_dir() / "no-upcast.toml").read_text())
    assert saved["optimizations"]["kbit_upcast"] is False


async def test_the_tuple_kv_cache_switch_raises_the_peak_saves_and_greys_out_for_training():
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        assert app.scenario.workload.runtime == "transformers" and app.scenario.workload.mode == "inference"
        await pilot.press("f4")
        await pilot.pause()
        box = app.screen.query_one("#legacy_cache")
        assert not box.value and not box.disabled
        before = app.result.precise.per_gpu["activations"]
        await tab_to(pilot, "legacy_cache")
        await pilot.press("space")
        await pilot.pause()
        assert app.scenario.optimizations.legacy_cache is True
        assert app.result.precise.per_gpu["activations"] > before
        assert "previous step's cache" in shown(pilot, "#breakdown")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press(*"tuple-cache", "enter")
        await pilot.pause()
        await pilot.press("f3")
        await tab_to(pilot, "mode")
        await pilot.press("enter", "down", "enter")  # inference -> lora
        await pilot.pause()
        await pilot.press("f4")
        await pilot.pause()
        box = app.screen.query_one("#legacy_cache")
        assert box.disabled
        assert "transformers inference only" in str(row_of(box).query_one(".field-note").content)
    saved = tomllib.loads((scenarios_dir() / "tuple-cache.toml").read_text())
    assert saved["optimizations"]["legacy_cache"] is True


@pytest.mark.parametrize(("field", "model", "changes", "moves", "says"), [
    ("legacy_bnb", "llama-3.1-8b", {"mode": "qlora", "weights": "nf4"}, +1, "bitsandbytes < 0.43.2"),
    ("quantized_lm_head", "llama-3.1-8b", {"mode": "qlora", "weights": "nf4"}, -1, "lm_head quantized too"),
    ("untied_lm_head", "llama-3.2-1b", {"mode": "lora"}, +1, "lm_head params"),
    ("gradient_accumulation", "llama-3.2-1b", {"mode": "full"}, +1, "gradient accumulation"),
])
async def test_a_training_harness_switch_moves_the_need_says_why_and_saves(field, model, changes, moves, says):
    """The harness switches (bitsandbytes' version, LitGPT's lm_head, gradient accumulation): Space on the
    Optimizations screen changes the per-GPU need the way the core says, the breakdown names the reason,
    and the saved file keeps the switch; for inference the switch is greyed out with the reason."""
    app = VramApp(make(model, **changes))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        box = app.screen.query_one(f"#{field}")
        assert not box.value and not box.disabled
        before = app.result.precise.per_gpu_bytes
        await tab_to(pilot, field)
        await pilot.press("space")
        await pilot.pause()
        assert getattr(app.scenario.optimizations, field) is True
        assert (app.result.precise.per_gpu_bytes - before) * moves > 0
        assert says in shown(pilot, "#breakdown")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press(*f"switch-{field.replace('_', '-')}", "enter")
        await pilot.pause()
    saved = tomllib.loads((scenarios_dir() / f"switch-{field.replace('_', '-')}.toml").read_text())
    assert saved["optimizations"][field] is True
    app = VramApp(make(model))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        assert app.screen.query_one(f"#{field}").disabled
