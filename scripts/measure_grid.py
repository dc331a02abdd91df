"""Measure a prepared grid of scenarios on this machine's GPU and write them as validation points.

Run on a GPU machine with the measure extra installed, as one short command:

    python scripts/measure_grid.py --out validation/points/gpu-measured.toml [--quick]

Each scenario runs in its own process (a fresh CUDA context and allocator), so one failure or OOM
does not taint the next; failures are listed, not recorded. The points carry what torch and the
driver reported (max_memory_allocated, max_memory_reserved, device memory used) and name the GPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomli_w

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vramtui.core import presets  # noqa: E402
from vramtui.core.io import save_scenario, scenario_from_dict  # noqa: E402
from vramtui.core.presets import gpu as gpu_spec  # noqa: E402
from vramtui.core.setup import Setup  # noqa: E402

INFERENCE_MODELS = ["qwen2.5-0.5b", "llama-3.2-1b", "llama-3.2-3b", "qwen3-4b", "llama-3.1-8b"]
CONTEXTS = [2048, 8192, 32768]
BATCHES = [1, 4]


def grid(quick: bool) -> list[dict]:
    out: list[dict] = []
    models = INFERENCE_MODELS[::2] if quick else INFERENCE_MODELS
    for model in models:
        for ctx in CONTEXTS[:2] if quick else CONTEXTS:
            for batch in BATCHES:
                out.append({"model": {"preset": model}, "workload": {"context_length": ctx, "batch_size": batch}})
    for model in ("llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b"):
        for ckpt in (False, True):
            out.append({"model": {"preset": model},
                        "workload": {"mode": "lora", "context_length": 2048, "batch_size": 2, "recipe": "bf16-pure"},
                        "optimizations": {"gradient_checkpointing": ckpt, "lora_rank": 16, "lora_targets": ["q_proj", "v_proj"]}})
    for model in ("qwen2.5-0.5b", "llama-3.2-1b"):
        for ckpt in (False, True):
            out.append({"model": {"preset": model},
                        "workload": {"mode": "full", "context_length": 1024, "batch_size": 4, "recipe": "bf16-pure"},
                        "optimizations": {"gradient_checkpointing": ckpt}})
    return out


def gpu_preset(name: str) -> str | None:
    """The preset whose name best matches torch's device name ('NVIDIA H100 80GB HBM3' -> h100-80gb)."""
    words = set(name.lower().replace("-", " ").split())
    best, score = None, 0
    for g in presets.gpus().values():
        common = len(words & set(g.name.lower().replace("-", " ").split()))
        if common > score:
            best, score = g.id, common
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "validation" / "points" / "gpu-measured.toml"))
    ap.add_argument("--quick", action="store_true", help="a smaller grid (about a third)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per scenario")
    args = ap.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("no GPU: torch sees no CUDA device", file=sys.stderr)
        return 2
    device = torch.cuda.get_device_name(0)
    gpu = gpu_preset(device)
    points, failures = [], []
    tmp = Path(tempfile.mkdtemp())
    for i, doc in enumerate(grid(args.quick)):
        s = scenario_from_dict(doc)
        path = save_scenario(s, tmp / f"s{i}.toml")
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "vramtui.cli", "measure", str(path), "--json"], capture_output=True,
                              text=True, timeout=args.timeout, cwd=ROOT)
        if proc.returncode != 0:
            failures.append(f"{s.summary}: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
            continue
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        w, o = s.workload, s.optimizations
        setup = Setup(s, gpu_spec(s.hardware.verdict_gpu))  # settings left to the runtime, resolved
        point = {
            "id": f"measured-{gpu or 'gpu'}-{s.model.preset}-{w.mode}-c{w.context_length}-b{w.batch_size}"
                  + ("-ckpt" if setup.gradient_checkpointing and w.mode != "inference" else ""),
            "source": "measured in this repository with scripts/measure_grid.py (vramtui measure, random weights)",
            "quote": proc.stdout.strip().splitlines()[-1],
            "runtime": "transformers", "mode": w.mode, "model": s.model.preset, "weights": w.weights,
            "kv_cache": w.kv_cache, "context_length": w.context_length, "batch_size": w.batch_size,
            "flash_attention": setup.flash_attention,
            "notes": f"{device}; torch {torch.__version__}; {time.perf_counter() - t:.0f} s",
            "measured": {"max_memory_allocated_gib": round(m["max_allocated"] / 2**30, 4),
                         "max_memory_reserved_gib": round(m["max_reserved"] / 2**30, 4),
                         "nvidia_smi_mib": round(m["device_used"] / 2**20, 1)},
        }
        if gpu:
            point["gpu"] = gpu
        if w.mode != "inference":
            point.update(optimizer=o.optimizer, recipe=w.recipe, gradient_checkpointing=setup.gradient_checkpointing)
            if w.mode == "lora":
                point.update(lora_rank=o.lora_rank, lora_targets=list(o.lora_targets))
        points.append(point)
        print(f"ok   {s.summary}: allocated {m['max_allocated'] / 2**30:.2f} GiB, estimate {m['estimate']['allocated'] / 2**30:.2f} GiB")
    Path(args.out).write_text(f"# Measured on {device} with scripts/measure_grid.py\n" + tomli_w.dumps({"points": points}))
    print(f"wrote {len(points)} points to {args.out}")
    for f in failures:
        print(f"fail {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
