"""The plan on the GPU screen: a model that does not fit one card shows its layer split and the
command, and ctrl+y copies the command."""

from __future__ import annotations

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
