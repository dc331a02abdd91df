"""Start an app for bench/terminal.py and note the CPU time the process has used when its first full
frame goes to the terminal.

Wall-clock time on this shared VM moves with other tenants' load (one run's ratio ranged 0.8-1.7x);
the process's own CPU seconds until that write (``time.process_time``, from the interpreter's start)
hardly do, so the bench reports both. The hook wraps Textual's Linux driver's ``write`` and costs a
length check per write.

Usage: python bench/launch.py vramtui|minimal   (VRAMTUI_BENCH_CPU=FILE receives the seconds)
"""

from __future__ import annotations

import os
import sys
import time

from textual.drivers.linux_driver import LinuxDriver

FULL_FRAME = 2000  # bytes: a 120x40 frame is several kB; the set-up sequences before it are a few bytes each
_write = LinuxDriver.write
_noted = False


def _noting_write(self: LinuxDriver, data: str) -> None:
    global _noted
    if not _noted and len(data) > FULL_FRAME:
        _noted = True
        with open(os.environ["VRAMTUI_BENCH_CPU"], "w") as fh:
            fh.write(f"{time.process_time():.6f}\n")
    _write(self, data)


def main(name: str) -> None:
    LinuxDriver.write = _noting_write  # type: ignore[method-assign]
    if name == "minimal":
        sys.path.insert(0, os.path.dirname(__file__))
        from apps import make

        make("minimal").run()
    else:
        from vramtui.cli import main as vramtui

        sys.exit(vramtui([]))


if __name__ == "__main__":
    main(sys.argv[1])
