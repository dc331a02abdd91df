"""vramtui benchmarks (``make bench``). Prints medians over repeated runs and ratios against a
baseline measured the same way on the same machine in the same run; nothing here is asserted.

- start-up: process start -> first frame (headless), vramtui vs a minimal Textual app
- keystroke -> screen: ctrl+up on the GPU screen (55-GPU grid) until summary and grid show the new
  numbers, vs ctrl+l (redraw the same widgets from the existing result: same key path, no recompute)
- estimator: estimates/s, the full fit grid with solvers, ``vramtui estimate --json`` as a process
- memory: peak RSS after start-up and after visiting every screen
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUNS = int(os.environ.get("BENCH_RUNS", "7"))


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def child(name: str, what: str) -> tuple[float, str]:
    env = {**os.environ, "VRAMTUI_HOME": tempfile.mkdtemp()}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(HERE / "child.py"), name, what], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - start
    rest = proc.communicate(timeout=120)[0]
    return elapsed, (line + rest).strip()


def bench_startup() -> dict:
    ours, floor = [], []
    for _ in range(RUNS):  # interleaved, so both see the same machine load
        ours.append(child("vramtui", "startup")[0])
        floor.append(child("minimal", "startup")[0])
    return {"vramtui_ms": median_ms(ours), "minimal_ms": median_ms(floor), "ratio": median_ms(ours) / median_ms(floor)}


def bench_memory() -> dict:
    _, out = child("vramtui", "memory")
    _, floor = child("minimal", "memory")
    start, visited = (int(x) for x in out.split()[1:3])
    return {"after_start_mib": start / 1024, "after_all_screens_mib": visited / 1024,
            "minimal_mib": int(floor.split()[1]) / 1024}


async def bench_keystroke() -> dict:
    os.environ.setdefault("VRAMTUI_HOME", tempfile.mkdtemp())
    from textual.widgets import DataTable

    from vramtui.tui.app import VramApp

    app = VramApp()
    keys, repaint = [], []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f5", "ctrl+g")  # the grid of every GPU preset
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#gpu-table", DataTable)
        assert table.row_count >= 40
        for i in range(RUNS * 4):
            before = str(table.get_row_at(0)[2])
            t = time.perf_counter()
            await pilot.press("ctrl+up" if i % 2 == 0 else "ctrl+down")
            await pilot.pause()
            keys.append(time.perf_counter() - t)
            assert str(table.get_row_at(0)[2]) != before, "the grid did not show the new need"

            t = time.perf_counter()
            await pilot.press("ctrl+l")  # the same key path and widgets, redrawn from the same result
            await pilot.pause()
            repaint.append(time.perf_counter() - t)
    return {"keystroke_ms": median_ms(keys), "repaint_ms": median_ms(repaint), "ratio": median_ms(keys) / median_ms(repaint),
            "rows": table.row_count}


def bench_estimator() -> dict:
    from vramtui.core import presets
    from vramtui.core.fit import fit_grid
    from vramtui.core.io import default_scenario
    from vramtui.core.methods import estimate

    s = default_scenario()
    variants = [s.replace("workload", context_length=8192 + i) for i in range(200)]
    t = time.perf_counter()
    for v in variants:
        estimate(v)
    per_s = len(variants) / (time.perf_counter() - t)

    ids = tuple(presets.gpus())
    grids = {}
    for label, scen in (("transformers", s), ("vllm", s.replace("workload", runtime="vllm")),
                        ("llama.cpp q4_k_m", s.replace("workload", runtime="llama.cpp", weights="q4_k_m")),
                        ("full fine-tuning", s.replace("workload", mode="full"))):
        samples = []
        for i in range(RUNS * 5):
            v = scen.replace("workload", context_length=scen.workload.context_length + i)
            t = time.perf_counter()
            fit_grid(v, gpu_ids=ids)
            samples.append(time.perf_counter() - t)
        grids[label] = median_ms(samples)

    proc = []
    for _ in range(RUNS):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vramtui.cli", "estimate", "--json"], check=True, capture_output=True, cwd=ROOT)
        proc.append(time.perf_counter() - t)
    return {"estimates_per_s": per_s, "grid_gpus": len(ids), "grid_ms": grids, "cli_estimate_json_ms": median_ms(proc)}


def main() -> None:
    print(f"# vramtui benchmarks — {platform.node()} · {platform.processor() or platform.machine()} · "
          f"{os.cpu_count()} CPUs · Python {platform.python_version()} · runs {RUNS}\n")
    s = bench_startup()
    print(f"start-up to first frame: vramtui {s['vramtui_ms']:.0f} ms, minimal Textual app {s['minimal_ms']:.0f} ms, "
          f"ratio {s['ratio']:.2f}x (target <= 1.5x)")
    k = asyncio.run(bench_keystroke())
    print(f"keystroke to screen ({k['rows']}-GPU grid): {k['keystroke_ms']:.1f} ms, bare repaint {k['repaint_ms']:.1f} ms, "
          f"ratio {k['ratio']:.2f}x (target <= 2x)")
    e = bench_estimator()
    print(f"estimator: {e['estimates_per_s']:,.0f} estimates/s")
    for label, ms in e["grid_ms"].items():
        print(f"fit grid, {e['grid_gpus']} GPUs with max-context and max-batch solvers ({label}): {ms:.2f} ms (target <= 5 ms)")
    print(f"`vramtui estimate --json` as a process: {e['cli_estimate_json_ms']:.0f} ms")
    m = bench_memory()
    print(f"peak RSS: after start-up {m['after_start_mib']:.0f} MiB, after every screen {m['after_all_screens_mib']:.0f} MiB "
          f"(minimal Textual app {m['minimal_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
