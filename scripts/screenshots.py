"""Drive the real app headless and write an SVG of each screen to screenshots/ (for the README).

Usage: .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "screenshots"
SHOTS = [  # (file, terminal size, keys)
    ("workload.svg", (120, 40), ["f3"]),
    ("model.svg", (120, 40), ["f2", *"qwen3"]),
    ("optimizations-qlora.svg", (120, 40), ["f3", "enter", "down", "down", "enter", "f4"]),
    ("gpus.svg", (120, 40), ["f5"]),
    ("compact-80x24.svg", (80, 24), ["f3"]),
    ("gpus-80x24.svg", (80, 24), ["f5"]),
]


async def main() -> None:
    os.environ.setdefault("VRAMTUI_HOME", tempfile.mkdtemp())
    from vramtui.tui.app import VramApp

    OUT.mkdir(exist_ok=True)
    for name, size, keys in SHOTS:
        app = VramApp()
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            for key in keys:
                await pilot.press(key)
            await pilot.pause(0.3)
            app.save_screenshot(filename=name, path=str(OUT))
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    asyncio.run(main())
