"""Loading a model the user names: a Hub id typed into the Model screen's box, read from a local server
that answers like the Hub (tests/hub_server.py); a bad id keeps the model that was there."""

from __future__ import annotations

from vramtui.tui.app import VramApp

from ..test_hub_source import hub  # noqa: F401  (the fixture)
from .helpers import shown, summary

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
