"""The plan on the GPU screen: a model that does not fit one card shows its layer split and the
command, and ctrl+y copies the command."""

from __future__ import annotations

import html

from vramtui.tui.app import VramApp

from ..builders import make
from .helpers import shown, summary

SIZE = (120, 40)


async def test_a_model_too_big_for_the_card_shows_the_layer_split_and_copies_the_command():
    app = VramApp(make("llama-3.1-70b", weights="q4_k_m", runtime="llama.cpp"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        assert "DOES NOT FIT" in summary(pilot)  # 40 GiB of Q4_K_M on a 24 GiB RTX 4090
        await pilot.press("f5")
        await pilot.pause()
        panel = shown(pilot, "#plan-panel")
        assert "layers on 1 GPU" in panel and "host RAM" in panel and "llama-server" in panel
        ngl = panel.split("-ngl ")[1].split()[0]
        assert 0 < int(ngl) < 81 and "/81 layers" in panel
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert app.clipboard.startswith("llama-server ") and f"-ngl {ngl} " in app.clipboard
        await pilot.press("down")  # the next GPU: the plan follows the cursor
        await pilot.pause()
        assert shown(pilot, "#plan-panel") != panel


async def test_ctrl_t_shows_memory_against_context_with_each_gpus_usable_line():
    app = VramApp(make("llama-3.1-8b"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await pilot.pause()
        chart = app.screen.query_one("#context-chart")
        assert not chart.display
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert chart.display
        screen = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        assert "need per GPU against context" in screen and "rtx-4090" in screen and "context (tokens)" in screen
        curve = app.result.context_curve
        assert curve[0][0] == 512 and curve[-1][0] == 131072  # up to the model's window
        assert all(b1 <= b2 for (_, b1), (_, b2) in zip(curve, curve[1:], strict=False))  # more context, more memory
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert not chart.display
