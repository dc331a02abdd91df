"""Walking into setups the runtime cannot run, by key presses: the field is flagged with both settings
and the screen keeps the numbers of the last valid scenario."""

from __future__ import annotations

from textual.color import Color
from textual.geometry import Region

from vramtui.tui.app import VramApp
from vramtui.tui.widgets.form import row_of
from vramtui.tui.widgets.summary import SummaryPanel

from ..builders import make
from .helpers import summary, summary_part, tab_to

SIZE = (120, 40)


def note(app: VramApp, field: str) -> str:
    row = row_of(app.screen.query_one(f"#{field}"))
    assert row is not None and row.has_class("-invalid"), f"{field} is not flagged"
    return str(row.query_one(".field-note").content)


async def test_training_on_vllm_is_refused_at_the_mode_field():
    app = VramApp(make(runtime="vllm"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        before = summary(pilot)
        await tab_to(pilot, "mode")
        await pilot.press("right")  # Inference -> LoRA
        await pilot.pause()
        text = note(app, "mode")
        assert "workload.mode = lora" in text and "workload.runtime = vllm" in text
        assert app.scenario.workload.mode == "inference" and summary(pilot) == before


async def test_bitsandbytes_weights_on_llamacpp_are_refused_at_the_runtime_field():
    app = VramApp(make(weights="nf4"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await tab_to(pilot, "runtime")
        await pilot.press("right", "right")  # transformers -> vLLM -> SGLang: both load NF4
        await pilot.pause()
        assert app.scenario.workload.runtime == "sglang"
        valid = summary(pilot)
        await pilot.press("right")  # -> llama.cpp, which reads GGUF only
        await pilot.pause()
        text = note(app, "runtime")
        assert "workload.weights = nf4" in text and "workload.runtime = llama.cpp" in text
        assert app.scenario.workload.runtime == "sglang" and summary(pilot) == valid
        assert "SGLang" in str(app.screen.query_one("#runtime").render())


async def test_flash_attention_off_with_a_quantized_kv_cache_is_refused_in_llamacpp():
    app = VramApp(make(weights="q4_k_m", kv_cache="q8_0", runtime="llama.cpp"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        before = summary(pilot)
        await tab_to(pilot, "flash_attention")
        await pilot.press("space")
        await pilot.pause()
        text = note(app, "flash_attention")
        assert "workload.kv_cache = q8_0" in text and "requires flash attention" in text
        assert app.scenario.optimizations.flash_attention is None and summary(pilot) == before
        assert app.screen.query_one("#flash_attention").value is True  # the box shows what is in force


async def test_tensor_parallel_is_refused_for_qlora():
    app = VramApp(make(mode="qlora", weights="nf4-dq"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        before = summary(pilot)
        await tab_to(pilot, "tensor_parallel")
        await pilot.press("2")
        await pilot.pause()
        text = note(app, "tensor_parallel")
        assert "optimizations.tensor_parallel = 2" in text and "workload.mode = qlora" in text
        assert app.scenario.optimizations.tensor_parallel == 1 and summary(pilot) == before


async def test_tensor_parallel_is_greyed_out_with_the_reason_for_a_layer_split_runtime():
    app = VramApp(make(weights="q4_k_m", runtime="ollama"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        row = row_of(app.screen.query_one("#tensor_parallel"))
        assert row.has_class("-disabled") and app.screen.query_one("#tensor_parallel").disabled
        assert "by whole layers" in str(row.query_one(".field-note").content)


async def test_qlora_says_on_screen_that_checkpointing_is_on_by_peft_default():
    app = VramApp(make())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await tab_to(pilot, "mode")
        await pilot.press("right", "right")  # -> QLoRA (weights become NF4 + double quant)
        await pilot.pause()
        assert app.scenario.workload.mode == "qlora"
        await pilot.press("f4")
        await pilot.pause()
        row = row_of(app.screen.query_one("#gradient_checkpointing"))
        assert row.has_class("-hint") and "prepare_model_for_kbit_training" in str(row.query_one(".field-note").content)
        assert app.screen.query_one("#gradient_checkpointing").value is True


async def test_warnings_show_under_the_summary():
    app = VramApp(make(weights="q4_k_m"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await pilot.pause()

        assert "⚠ transformers dequantizes GGUF q4_k_m" in summary_part(pilot, "warnings")

        # drawn in the theme's warning colour; F8 (next theme) redraws it in the new theme's
        themes = set()
        for _ in range(3):
            panel = app.screen.query_one(SummaryPanel)
            drawn = panel.render_lines(Region(0, 0, panel.size.width, panel.size.height))
            colours = {seg.style.color for strip in drawn for seg in strip if "⚠" in seg.text}
            assert colours == {Color.parse(app.get_css_variables()["warning"]).rich_color}, app.theme
            themes.add(app.theme)
            await pilot.press("f8")
            await pilot.pause()
        assert len(themes) == 3
