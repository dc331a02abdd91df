"""Run in a fresh process: start an app headless and report when its first frame is on screen (READY,
Textual's Ready event) and when it is idle with every widget of its first screen in (IDLE), or its peak
memory after visiting every screen. Used by bench/run.py; not a benchmark on its own."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))


def peak_rss_kib() -> int:
    """VmHWM: this process's peak resident set. (ru_maxrss would carry the parent's peak across exec.)"""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


async def main(name: str, what: str) -> None:
    os.environ.setdefault("VRAMTUI_HOME", tempfile.mkdtemp())
    from apps import make

    app = make(name)
    own = getattr(type(app), "on_ready", None)  # vramtui builds its form there

    async def on_ready(self) -> None:
        if what == "startup":
            print("READY", flush=True)
        if own is not None:
            await own(self)

    type(app).on_ready = on_ready  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()  # mounted, laid out and painted once
        if what == "startup":
            print("IDLE", flush=True)
            return
        rss_start = peak_rss_kib()
        if name != "minimal":
            for key in ("f2", "f3", "f4", "f5", "ctrl+g"):
                await pilot.press(key)
                await pilot.pause()
        rss_all = peak_rss_kib()
        print(f"RSS {rss_start} {rss_all}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
