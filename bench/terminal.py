"""Start-up as a user meets it: a real terminal (tmux, 120x40), from the command until the numbers
are on screen, for vramtui and for the minimal Textual app until its table shows.

Each run starts a detached tmux session running the app and polls ``tmux capture-pane`` every few
milliseconds until the screen holds the app's marker: for vramtui the summary's "GiB per GPU" figure
with its FITS verdict, for the minimal app its table's first row. Both apps are measured the same
way, alternating, so the ratio holds on a noisy machine where the milliseconds do not. vramtui's
Workload form is mounted after its first frame; the time until its last field shows is reported too.
Each app runs through bench/launch.py, which also notes the CPU seconds the process has used when its
first full frame is written: a figure other tenants' load on this VM hardly moves, reported beside
the wall-clock one.

Usage: .venv/bin/python bench/terminal.py [runs]
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
LAUNCH = str(Path(__file__).with_name("launch.py"))
APPS = {
    "vramtui": ([PYTHON, LAUNCH, "vramtui"], re.compile(r"\d GiB per GPU.*(FITS|DOES NOT FIT)")),
    "minimal": ([PYTHON, LAUNCH, "minimal"], re.compile(r"gpu-0\s")),
}
FORM = re.compile(r"GPU mem share")  # the Workload form's last field: the form is in
SOCKET = ["tmux", "-L", f"vramtui-bench-{os.getpid()}"]  # a server of our own, kept up by an idle session
POLL_S = 0.004
TIMEOUT_S = 20.0


def once(name: str, then: re.Pattern | None = None) -> tuple[float, float | None, float]:
    """Seconds from starting the app in a fresh tmux session until its marker is on screen, (given
    ``then``) until that second marker is too, and the CPU seconds the process had used when it wrote
    its first full frame."""
    command, marker = APPS[name]
    session = f"vramtui-bench-{os.getpid()}-{name}"
    home = tempfile.mkdtemp()
    cpu_file = os.path.join(home, "cpu")
    # on the command line: a session takes its environment from the tmux server (started by the idle
    # session), not from this call; without PYTHONDONTWRITEBYTECODE, as an installed app has its bytecode
    shell = shlex.join(["env", "-u", "PYTHONDONTWRITEBYTECODE", f"VRAMTUI_HOME={home}", "TERM=xterm-256color",
                        f"VRAMTUI_BENCH_CPU={cpu_file}", *command])
    start = time.perf_counter()
    subprocess.run([*SOCKET, "new-session", "-d", "-s", session, "-x", "120", "-y", "40", "-c", str(ROOT), shell],
                   check=True)
    shown: float | None = None
    try:
        while time.perf_counter() - start < TIMEOUT_S:
            screen = subprocess.run([*SOCKET, "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
            now = time.perf_counter() - start
            if shown is None and marker.search(screen):
                shown = now
            if shown is not None and (then is None or then.search(screen)):
                with open(cpu_file) as fh:
                    cpu = float(fh.read())
                return shown, (now if then else None), cpu
            time.sleep(POLL_S)
        raise TimeoutError(f"{name}: marker not on screen after {TIMEOUT_S:.0f} s:\n{screen}")
    finally:
        subprocess.run([*SOCKET, "kill-session", "-t", session], capture_output=True)


def measure(runs: int = 7) -> dict[str, float]:
    """Median milliseconds of each app, one warm-up run of each first (bytecode, disk cache);
    ``vramtui form``, until vramtui's form is on screen too; and the quartiles of each run's ratio."""
    if shutil.which("tmux") is None:
        raise RuntimeError("tmux is not installed: the terminal start-up figure needs it")
    subprocess.run([*SOCKET, "new-session", "-d", "-s", "idle", "sleep", "3600"], check=True)
    try:
        for name in APPS:
            once(name)
        samples: dict[str, list[float]] = {name: [] for name in (*APPS, "vramtui form", "vramtui cpu", "minimal cpu")}
        for _ in range(runs):
            numbers, form, cpu = once("vramtui", FORM)
            samples["vramtui"].append(numbers * 1000)
            samples["vramtui form"].append((form or numbers) * 1000)
            samples["vramtui cpu"].append(cpu * 1000)
            numbers, _, cpu = once("minimal")
            samples["minimal"].append(numbers * 1000)
            samples["minimal cpu"].append(cpu * 1000)
    finally:
        subprocess.run([*SOCKET, "kill-server"], capture_output=True)
    out = {name: statistics.median(v) for name, v in samples.items()}
    # each run's own ratio (vramtui, then the minimal app at once): a busy second slows both, so their
    # quartiles say how far one run's ratio can be from the median on this machine
    q1, _, q3 = statistics.quantiles([v / m for v, m in zip(samples["vramtui"], samples["minimal"], strict=True)], n=4)
    return {**out, "pair_q1": q1, "pair_q3": q3}


def describe(ms: dict[str, float], runs: int) -> str:
    """The figure's line, as this script and ``make bench`` print it."""
    return (f"start-up in a real terminal (tmux 120x40) until the numbers are on screen, median of {runs}: "
            f"vramtui {ms['vramtui']:.0f} ms, minimal Textual app until its table shows {ms['minimal']:.0f} ms, "
            f"ratio {ms['vramtui'] / ms['minimal']:.2f}x (target <= 1.25x; one run's ratio {ms['pair_q1']:.2f}-"
            f"{ms['pair_q3']:.2f}x between quartiles); until the Workload form is in too {ms['vramtui form']:.0f} ms "
            f"({ms['vramtui form'] / ms['minimal']:.2f}x); CPU time until the first frame is written: vramtui "
            f"{ms['vramtui cpu']:.0f} ms, minimal {ms['minimal cpu']:.0f} ms, {ms['vramtui cpu'] / ms['minimal cpu']:.2f}x")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    print(describe(measure(runs), runs))


if __name__ == "__main__":
    main()
