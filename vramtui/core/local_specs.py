"""This machine's GPUs as GPU specs a plan can use: memory as detected, the rest from the matching preset.

A plan judges fit on the memory a process can still take now (the detected free memory), so the
spec's usable memory is the free memory; bandwidth and price come from the preset whose name matches
the driver's (``local_gpus.preset_id_for``). A card without a preset keeps its name and memory and a
bandwidth of 0 is not allowed, so it borrows the slowest preset of its vendor: decode speed is then a
floor, and the plan says so.
"""

from __future__ import annotations

from . import presets
from .local_gpus import LocalMachine, preset_id_for
from .units import MiB


def local_specs(machine: LocalMachine) -> list[presets.GPUSpec]:
    known = {g.id: g.name for g in presets.gpus().values()}
    out = []
    for gpu in machine.gpus:
        pid = preset_id_for(gpu.name, known)
        base = presets.gpu(pid) if pid else min(
            (g for g in presets.gpus().values() if g.vendor == gpu.vendor), key=lambda g: g.bandwidth_gbs)
        note = f"detected by {gpu.source}" + ("" if pid else f"; no preset matches, bandwidth taken from {base.name}")
        out.append(base.model_copy(update={
            "id": f"local-{gpu.index}", "name": gpu.name, "memory_mib": max(1, gpu.total_bytes // MiB),
            "usable_mib": max(1, gpu.free_bytes // MiB), "memory_source": note,
        }))
    return out
