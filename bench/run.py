"""vramtui benchmarks (``make bench``). Prints medians over repeated runs and ratios against a
baseline measured the same way on the same machine in the same run; nothing here is asserted.

- start-up: process start -> first frame, and -> idle with the first screen's widgets in (headless),
  vramtui vs a minimal Textual app
- keystroke -> screen: ctrl+up on the GPU screen (55-GPU grid) until summary and grid show the new
  numbers, vs ctrl+l (redraw the same widgets from the existing result: same key path, no recompute)
- estimator: estimates/s, the full fit grid with solvers; a 500-GPU synthetic grid against the 55-GPU
  grid (cost per GPU: linear growth reads 1.0x); 1,000 different scenarios through the Python API
  against 1,000 of one scenario through the same calls (``python bench/run.py grid`` runs this section
  alone; with ``PYTHONPATH=<another checkout>`` it measures that checkout's core)
- CLI: ``vramtui estimate --json``, ``models`` and ``fit`` as whole processes, each against a bare
  ``python -c pass`` started the same way (``python bench/run.py cli`` runs this section alone);
  ``BENCH_BEFORE=DIR`` runs them from an older checkout too, interleaved
- memory: peak RSS after start-up and after visiting every screen
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
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


def child(name: str, what: str) -> tuple[list[float], str]:
    """Seconds from the process's start to each line it prints, and its output."""
    env = {**os.environ, "VRAMTUI_HOME": tempfile.mkdtemp()}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(HERE / "child.py"), name, what], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    lines, times = [], []
    for line in proc.stdout or ():
        times.append(time.perf_counter() - start)
        lines.append(line)
    proc.wait(timeout=120)
    return times, "".join(lines).strip()


def bench_startup() -> dict:
    ours, floor = [], []
    for _ in range(RUNS):  # interleaved, so both see the same machine load
        ours.append(child("vramtui", "startup")[0])
        floor.append(child("minimal", "startup")[0])
    frame, idle = ([t[i] for t in ours] for i in (0, 1))
    floor_frame, floor_idle = ([t[i] for t in floor] for i in (0, 1))
    return {"vramtui_ms": median_ms(frame), "minimal_ms": median_ms(floor_frame),
            "ratio": median_ms(frame) / median_ms(floor_frame), "idle_ms": median_ms(idle),
            "minimal_idle_ms": median_ms(floor_idle), "idle_ratio": median_ms(idle) / median_ms(floor_idle)}


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
    from vramtui.tui.screens.gpus import COLUMN_INDEX

    need = COLUMN_INDEX["need"]  # the column that changes with the context
    app = VramApp()
    keys, repaint = [], []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f5", "ctrl+g")  # the grid of every GPU preset
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#gpu-table", DataTable)
        assert table.row_count >= 40
        for i in range(RUNS * 4):
            before = str(table.get_row_at(0)[need])
            t = time.perf_counter()
            await pilot.press("ctrl+up" if i % 2 == 0 else "ctrl+down")
            await pilot.pause()
            keys.append(time.perf_counter() - t)
            assert str(table.get_row_at(0)[need]) != before, "the grid did not show the new need"

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
    return {"estimates_per_s": per_s, "grid_gpus": len(ids), "grid_ms": grids}


def synthetic_gpus(n: int) -> list:
    """``n`` cards made from the GPU presets: memory, bandwidth and price spread over each preset's
    neighbourhood (0.5x to 1.5x), so the grid's solvers see as many different limits as cards."""
    from vramtui.core import presets

    base = list(presets.gpus().values())
    out = []
    for i in range(n):
        g, scale = base[i % len(base)], 0.5 + (i * 7919 % 1000) / 1000
        out.append(g.model_copy(update={"id": f"synthetic-{i}", "memory_mib": max(1024, int(g.memory_mib * scale)),
                                        "usable_mib": None if g.usable_mib is None else max(1024, int(g.usable_mib * scale)),
                                        "bandwidth_gbs": g.bandwidth_gbs * scale, "price_usd": g.price_usd * scale}))
    return out


def bench_scale() -> dict:
    """A 500-GPU grid against the 55 presets (same scenario, same solvers, interleaved), and a sweep of
    1,000 different scenarios through ``scenario_from_dict`` + ``estimate`` against 1,000 of one."""
    from vramtui.core import presets
    from vramtui.core.fit import fit_grid
    from vramtui.core.io import default_scenario, scenario_from_dict
    from vramtui.core.methods import estimate

    s = default_scenario()
    real, synthetic = list(presets.gpus().values()), synthetic_gpus(500)
    small, large = [], []
    for i in range(RUNS * 3):
        v = s.replace("workload", context_length=s.workload.context_length + i)
        t = time.perf_counter()
        fit_grid(v, gpus=real)
        small.append(time.perf_counter() - t)
        t = time.perf_counter()
        fit_grid(v, gpus=synthetic)
        large.append(time.perf_counter() - t)

    models = ("llama-3.1-8b", "llama-3.1-70b", "qwen2.5-7b", "qwen3-30b-a3b", "mixtral-8x7b", "gemma-2-9b", "phi-4",
              "deepseek-v2-lite", "gpt-oss-20b", "mistral-7b-v0.1")
    formats = (("transformers", "bf16"), ("transformers", "nf4"), ("vllm", "fp8"), ("vllm", "awq-int4"), ("llama.cpp", "q4_k_m"))
    docs = [{"model": {"preset": m}, "workload": {"runtime": rt, "weights": w, "context_length": ctx, "batch_size": b}}
            for m in models for rt, w in formats for ctx in (2048, 8192, 32768, 131072) for b in (1, 2, 4, 8, 16)]
    one = [docs[0]] * len(docs)

    def sweep(batch: list[dict]) -> float:
        t = time.perf_counter()
        for doc in batch:
            estimate(scenario_from_dict({k: dict(v) for k, v in doc.items()}))
        return time.perf_counter() - t

    sweep(docs[:50])  # the formats' and counts' caches start the same for both
    varied, same = [], []
    for _ in range(max(3, RUNS // 2)):
        varied.append(sweep(docs))
        same.append(sweep(one))
    return {"grid_55_ms": median_ms(small), "grid_500_ms": median_ms(large),
            "per_gpu_ratio": (median_ms(large) / 500) / (median_ms(small) / len(real)), "real_gpus": len(real),
            "sweep_ms": median_ms(varied), "same_ms": median_ms(same), "scenarios": len(docs),
            "sweep_ratio": median_ms(varied) / median_ms(same)}


def cli_commands() -> dict[str, list[str]]:
    from vramtui.core import presets

    fit = ["-m", "vramtui.cli", "fit", "--model", "llama-3.1-8b"]
    return {
        "`vramtui estimate --model llama-3.1-8b --json`": ["-m", "vramtui.cli", "estimate", "--model", "llama-3.1-8b", "--json"],
        "`vramtui models`": ["-m", "vramtui.cli", "models"],
        "`vramtui fit --model llama-3.1-8b` (the scenario's 14 GPUs)": fit,
        f"`vramtui fit --model llama-3.1-8b --gpus <all {len(presets.gpu_ids())}>`": [*fit, "--gpus", ",".join(presets.gpu_ids())],
    }


def bench_cli() -> dict:
    """Whole processes, interleaved: the bare interpreter and each command. Byte-code
    caching is on (an installed wheel has its .pyc files; PYTHONDONTWRITEBYTECODE would make every
    run compile vramtui from source), and each command runs once before timing. With BENCH_BEFORE=DIR
    each command also runs from that checkout (``python -m`` imports the package from the working
    folder), for a before/after in one run."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["VRAMTUI_HOME"] = tempfile.mkdtemp()
    runs: dict[str, tuple[list[str], Path]] = {"python -c pass": (["-c", "pass"], ROOT)}
    before = os.environ.get("BENCH_BEFORE")  # another checkout (e.g. `git archive` of an older commit): run there too
    for label, args in cli_commands().items():
        if before:
            runs[f"{label} [{Path(before).name}]"] = (args, Path(before))
        runs[label] = (args, ROOT)
    for args, cwd in runs.values():
        subprocess.run([sys.executable, *args], check=True, capture_output=True, cwd=cwd, env=env)
    samples: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(RUNS * 3):
        for label, (args, cwd) in runs.items():
            t = time.perf_counter()
            subprocess.run([sys.executable, *args], check=True, capture_output=True, cwd=cwd, env=env)
            samples[label].append(time.perf_counter() - t)
    base = median_ms(samples["python -c pass"])
    return {label: (median_ms(v), median_ms(v) / base) for label, v in samples.items()}


def print_grids() -> None:
    e = bench_estimator()
    print(f"estimator: {e['estimates_per_s']:,.0f} estimates/s")
    for label, ms in e["grid_ms"].items():
        print(f"fit grid, {e['grid_gpus']} GPUs with max-context and max-batch solvers ({label}): {ms:.2f} ms (target <= 2 ms)")
    sc = bench_scale()
    print(f"fit grid, 500 synthetic GPUs: {sc['grid_500_ms']:.1f} ms against {sc['grid_55_ms']:.1f} ms for the "
          f"{sc['real_gpus']} presets: {sc['grid_500_ms'] / sc['grid_55_ms']:.1f}x the time for "
          f"{500 / sc['real_gpus']:.1f}x the GPUs, cost per GPU {sc['per_gpu_ratio']:.2f}x (linear: 1.0x)")
    print(f"sweep of {sc['scenarios']:,} different scenarios (scenario_from_dict + estimate): {sc['sweep_ms']:.0f} ms "
          f"({1000 * sc['sweep_ms'] / sc['scenarios']:.0f} µs each) against {sc['same_ms']:.0f} ms for "
          f"{sc['scenarios']:,} of one scenario: ratio {sc['sweep_ratio']:.2f}x")


def print_cli() -> None:
    for label, (ms, ratio) in bench_cli().items():
        target = " (target <= 6x)" if label.startswith("`") else ""
        print(f"process {label}: {ms:.0f} ms, {ratio:.1f}x python -c pass{target}")


def main() -> None:
    print(f"# vramtui benchmarks — {platform.node()} · {platform.processor() or platform.machine()} · "
          f"{os.cpu_count()} CPUs · Python {platform.python_version()} · runs {RUNS}\n")
    if sys.argv[1:] == ["grid"]:  # the estimator's section alone (fit grids, the 500-GPU grid, the sweep)
        print_grids()
        return
    if sys.argv[1:] == ["cli"]:  # the commands as processes alone (with BENCH_BEFORE: against another checkout)
        print_cli()
        return
    s = bench_startup()
    print(f"start-up to first frame (headless, Textual's Ready): vramtui {s['vramtui_ms']:.0f} ms, minimal Textual app "
          f"{s['minimal_ms']:.0f} ms, ratio {s['ratio']:.2f}x (target <= 1.5x); until idle with the first screen's widgets in: "
          f"{s['idle_ms']:.0f} ms against {s['minimal_idle_ms']:.0f} ms, {s['idle_ratio']:.2f}x")
    if shutil.which("tmux"):
        from terminal import describe, measure

        runs = RUNS * 2  # the noisiest figure here: twice the runs
        print(describe(measure(runs), runs))
    else:
        print("start-up in a real terminal: skipped, tmux is not installed")
    k = asyncio.run(bench_keystroke())
    print(f"keystroke to screen ({k['rows']}-GPU grid): {k['keystroke_ms']:.1f} ms, bare repaint {k['repaint_ms']:.1f} ms, "
          f"ratio {k['ratio']:.2f}x (target <= 1.2x)")
    print_grids()
    print_cli()
    m = bench_memory()
    print(f"peak RSS: after start-up {m['after_start_mib']:.0f} MiB, after every screen {m['after_all_screens_mib']:.0f} MiB "
          f"(minimal Textual app {m['minimal_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
