"""Plans: what goes on which device, whether it fits, how fast, and the command that launches it.

``plan(scenario, gpus)`` asks the scenario's runtime (``Runtime.plan``), because placement is the
runtime's own rule: llama.cpp and ollama put whole layers on each GPU and the rest in host RAM, vLLM
and SGLang shard every layer over a tensor-parallel group, training spreads over data-parallel GPUs
with ZeRO. Every flag of the command carries the plan number it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from .gpuspec import GPUSpec
from .units import GiB

if TYPE_CHECKING:  # the runtimes import this module's types; the registry is imported when planning
    from .scenario import Scenario

# Host memory bandwidth when the machine's is not known: dual-channel DDR5-5600, 2 channels × 8 B ×
# 5,600 MT/s = 89.6 GB/s (JEDEC DDR5 data rate × bus width). CPU decode reaches about 70 % of it like
# the GPUs' (constants.DECODE_BANDWIDTH_EFFICIENCY).
HOST_BANDWIDTH_GBS = 89.6


class Host(NamedTuple):
    """The machine's RAM, where what does not fit the GPUs goes; ``None``: not known."""

    memory_bytes: int | None = None
    bandwidth_gbs: float = HOST_BANDWIDTH_GBS


class Flag(NamedTuple):
    """One flag or setting of the launch command and the plan number it comes from."""

    flag: str
    value: str
    why: str

    def to_json(self) -> dict[str, str]:
        return {"flag": self.flag, "value": self.value, "why": self.why}


class Device(NamedTuple):
    gpu: GPUSpec
    bytes: int
    usable_bytes: int
    layers: int | None = None  # layer split: how many of the model's layers this GPU holds
    parts: dict[str, int] = {}  # (never mutated: a shared empty default is safe) weights, kv_cache, activations (compute), overhead ...

    @property
    def fits(self) -> bool:
        return self.bytes <= self.usable_bytes

    def to_json(self) -> dict[str, Any]:
        return {"gpu": self.gpu.id, "bytes": self.bytes, "usable_bytes": self.usable_bytes, "layers": self.layers,
                "parts": dict(self.parts)}


class Plan(NamedTuple):
    runtime: str
    fits: bool
    devices: tuple[Device, ...]
    command: str
    flags: tuple[Flag, ...] = ()
    host_bytes: int = 0
    host_parts: dict[str, int] = {}  # the dict defaults are never mutated: sharing them is safe
    total_layers: int | None = None
    gpu_layers: int | None = None
    max_context: int | None = None
    tokens_per_s: float | None = None
    warnings: tuple[str, ...] = ()
    files: dict[str, str] = {}
    summary: str = ""  # one line: what the plan does
    details: dict[str, Any] = {}  # runtime-specific numbers (tensor_parallel, kv tokens ...)

    def to_json(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime, "fits": self.fits, "summary": self.summary,
            "total_layers": self.total_layers, "gpu_layers": self.gpu_layers,
            "devices": [d.to_json() for d in self.devices],
            "host_bytes": self.host_bytes, "host_parts": dict(self.host_parts),
            "max_context": self.max_context,
            "tokens_per_s": None if self.tokens_per_s is None else round(self.tokens_per_s, 1),
            "warnings": list(self.warnings), "command": self.command,
            "flags": [f.to_json() for f in self.flags], "files": dict(self.files), **self.details,
        }


class PlanError(ValueError):
    """A plan that cannot be made from these inputs (one line, names the input)."""


def plan(scenario: Scenario, gpus: Sequence[GPUSpec], host: Host | None = None, *, gpu_layers: int | None = None,
         tensor_split: Sequence[float] | None = None, output_first: bool = False) -> Plan:
    """The runtime's plan for ``scenario`` on ``gpus`` (repeat a GPU for several cards of one kind).

    ``gpu_layers`` / ``tensor_split`` (layer-split runtimes) evaluate that split instead of searching
    for the largest, so a plan can be compared with a log that used ``-ngl N`` / ``--tensor-split``;
    ``output_first`` reads N as llama.cpp's ``--fit`` places it (the output layer, then N - 1 layers).
    """
    if not gpus:
        raise PlanError("gpus: give at least one GPU id (see `vramtui gpus`), or 'local'")
    if tensor_split is not None and len(tensor_split) != len(gpus):
        raise PlanError(f"--tensor-split: {len(tensor_split)} shares for {len(gpus)} GPUs; give one share per GPU")
    if tensor_split is not None and (any(x < 0 for x in tensor_split) or sum(tensor_split) <= 0):
        raise PlanError("--tensor-split: shares must be non-negative and not all zero")
    from .runtimes import runtime

    rt = runtime(scenario.workload.runtime)
    if output_first:
        from .planners import layer_split_plan

        return layer_split_plan(scenario, tuple(gpus), host or Host(), gpu_layers, tensor_split, output_first=True)
    return rt.plan(scenario, tuple(gpus), host or Host(), gpu_layers, tensor_split)


def hf_repo(scenario: Scenario) -> str:
    """The Hugging Face repo id of the scenario's model, from its preset's config.json URL, else a placeholder."""
    source = scenario.model.spec.source
    m = re.match(r"https://huggingface\.co/([^/]+/[^/]+)/", source)
    return m.group(1) if m else f"<{scenario.model.spec.id}>"


def gib(n: float) -> str:
    return f"{n / GiB:.2f} GiB"
