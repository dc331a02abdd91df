"""Loading a model the user names: a Hub id typed into the Model screen's box, read from a local server
that answers like the Hub (tests/hub_server.py); a bad id keeps the model that was there."""

from __future__ import annotations

from vramtui.tui.app import VramApp

from ..test_hub_source import hub  # noqa: F401  (the fixture)
from .helpers import shown, summary, table_rows

SIZE = (120, 40)


async def _type_and_load(pilot, text: str) -> None:
    await pilot.press("f2")
    await pilot.press(*text)
    await pilot.press("enter")
    for _ in range(100):  # the metadata is read off the UI thread
        await pilot.pause(0.05)
        if not shown(pilot, "#model-count").startswith("⋯"):
            return


async def test_typing_a_hub_id_loads_its_architecture_and_stored_format(hub):  # noqa: F811
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        await _type_and_load(pilot, "Qwen/Qwen3-8B-FP8")
        assert "✔" in shown(pilot, "#model-count") and "stored as fp8" in shown(pilot, "#model-count")
        assert app.scenario.model.hub == "Qwen/Qwen3-8B-FP8" and app.scenario.workload.weights == "fp8"
        assert "fp8" in summary(pilot)


async def test_a_missing_repo_says_so_and_keeps_the_model(hub):  # noqa: F811
    app = VramApp()
    async with app.run_test(size=SIZE) as pilot:
        before = app.scenario
        await _type_and_load(pilot, "nobody/no-such-model")
        assert "no such model" in shown(pilot, "#model-count")
        assert app.scenario == before


async def test_a_multimodal_models_vision_tower_has_its_own_line_in_the_breakdown():
    from ..builders import make

    app = VramApp(make("qwen2.5-vl-7b"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        text = shown(pilot, "#breakdown")
        assert "└ extra modules" in text and "vision" in text
        assert f"{app.result.precise.extra_weights_per_gpu / (1 << 30):.2f} GiB" in text


async def test_f2_again_steps_through_the_model_tabs_and_typing_on_the_list_filters():
    """Friction: the tabs were reachable only by shift+Tab then arrows; typing on the list did nothing."""
    from textual.widgets import TabbedContent

    app = VramApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await pilot.pause()
        tabs = app.screen.query_one("#model-tabs", TabbedContent)
        assert tabs.active == "tab-presets"
        await pilot.press("down")  # onto the list
        assert app.focused.id == "model-table"
        await pilot.press(*"mixtral")
        await pilot.pause()
        assert app.screen.query_one("#model-search").value == "mixtral"
        assert all("mixtral" in r[0] for r in table_rows(pilot, "#model-table"))
        await pilot.press("f2")
        await pilot.pause()
        assert tabs.active == "tab-custom" and app.focused.id == "custom-hidden_size"
        await pilot.press("f2")
        await pilot.pause()
        assert tabs.active == "tab-import" and app.focused.id == "import-path"
        await pilot.press("f2")
        await pilot.pause()
        assert tabs.active == "tab-presets" and app.focused.id == "model-search"
        await pilot.press("f3", "f2")  # from another screen F2 only goes to the Model screen
        await pilot.pause()
        assert tabs.active == "tab-presets"


async def test_the_model_list_shows_context_whole_at_80_columns():
    """Defect 13, last part: the model list cut '128K' to '128' at 80 columns."""
    app = VramApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2", *"llama 3.1 8b")
        await pilot.pause()
        table = app.screen.query_one("#model-table")
        right = 0
        for column in table.ordered_columns:
            right += column.get_render_width(table)
            if column.label.plain == "context":
                break
        assert right <= table.scrollable_content_region.width
        assert "128K" in table_rows(pilot, "#model-table")[0]
