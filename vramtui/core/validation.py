"""Published measurements, rebuilt as scenarios and compared with both methods.

Each point in ``validation/points/*.toml`` quotes its source and states what was measured. A point
is rebuilt as a Scenario from the same setup; each measured figure is compared with the estimate's
matching component (a llama.cpp buffer, vLLM's weights/activation/KV capacity, torch's allocated
peak). The *total* of a point is the sum of what was measured on the GPU (llama.cpp buffers), or
the one whole-process figure (allocated or reserved peak), or, for vLLM, the weights plus the
activation peak: the part of the card that does not depend on ``gpu_memory_utilization``. A point
with a ``table`` is a cell of a paper's table (its own arithmetic, not a measurement): its total is
the one figure the table gives, and it is summarised as its own group.
"""

from __future__ import annotations

import fnmatch
import json
import statistics
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import presets
from .estimate import Estimate
from .fit import fit_grid
from .io import ScenarioError, scenario_from_dict
from .methods import estimate
from .record import ConfigDict, Field, Record, ValidationError, field_validator
from .runtimes import runtime
from .scenario import DEFAULT_GPUS, Scenario
from .units import GiB, MiB

# what a figure is compared with: (estimate component or special, unit)
MEASURES: dict[str, tuple[str, int]] = {
    # llama.cpp / ollama print a buffer per device; a point gives their sum over the GPUs
    "weights_mib": ("all:weights", MiB),
    "kv_cache_mib": ("all:kv_cache", MiB),
    "compute_buffer_mib": ("all:activations", MiB),
    # a partial offload (the point gives -ngl): the GPUs' buffers and the host's KV, from the plan's split
    "gpu_weights_mib": ("plan:weights", MiB),
    "gpu_kv_cache_mib": ("plan:kv_cache", MiB),
    "gpu_compute_buffer_mib": ("plan:activations", MiB),
    "host_kv_cache_mib": ("plan-host:kv_cache", MiB),
    "weights_gib": ("weights", GiB),
    "activation_gib": ("activations", GiB),
    "kv_cache_gib": ("kv_capacity_bytes", GiB),
    "kv_cache_tokens": ("kv_capacity_tokens", 1),
    "max_memory_allocated_gib": ("allocated", GiB),
    "max_memory_reserved_gib": ("reserved", GiB),
    "nvidia_smi_mib": ("card", MiB),
    # optimum's benchmark: torch's allocated peak + non-torch memory (CUDA context, kernels), MB = 1e6 B
    "peak_memory_mb": ("allocated_plus_context", 10**6),
    # universal-llm-trainer's table: torch.cuda.memory_reserved() / 1e9 as that trainer prints it
    "peak_memory_gib": ("reserved", 10**9),
    # the ZeRO paper's Table 1: per-device parameters + gradients + optimizer states, GB = 1e9 B
    "model_states_gb": ("model_states", 10**9),
    # Korthikanti et al.'s Table 2 at a Table 3 model: the activations all layers keep for backward
    "saved_activations_gb": ("saved_activations", 10**9),
}


_UNIT_LABELS = {MiB: "MiB", GiB: "GiB", 10**9: "GB", 10**6: "MB", 1: "tok"}
# the totals that are sums of several figures: llama.cpp's buffers are printed in MiB
_TOTAL_UNITS = {"buffers": MiB}


def figure(measure: str, value: float) -> str:
    """A figure in the unit its source printed it in (``weights_mib`` in MiB, ``model_states_gb`` in GB)."""
    unit = MEASURES[measure][1] if measure in MEASURES else _TOTAL_UNITS.get(measure, GiB)
    if unit == 1:  # a count (tokens)
        return f"{value:,.0f} {_UNIT_LABELS[unit]}"
    return f"{value / unit:,.2f} {_UNIT_LABELS[unit]}"


class Measured(Record):
    model_config = ConfigDict(extra="forbid")

    weights_mib: float | None = None
    kv_cache_mib: float | None = None
    compute_buffer_mib: float | None = None
    gpu_weights_mib: float | None = None
    gpu_kv_cache_mib: float | None = None
    gpu_compute_buffer_mib: float | None = None
    host_kv_cache_mib: float | None = None
    weights_gib: float | None = None
    activation_gib: float | None = None
    kv_cache_gib: float | None = None
    kv_cache_tokens: int | None = None
    max_memory_allocated_gib: float | None = None
    max_memory_reserved_gib: float | None = None
    nvidia_smi_mib: float | None = None
    peak_memory_mb: float | None = None
    peak_memory_gib: float | None = None
    model_states_gb: float | None = None
    saved_activations_gb: float | None = None


class Point(Record):
    model_config = ConfigDict(extra="forbid")

    id: str
    source: str = Field(min_length=8)
    quote: str = Field(min_length=4)
    runtime: str
    mode: Literal["inference", "lora", "qlora", "full"]
    # a preset id, or (for a paper's table, whose models are only a parameter count) an inline
    # architecture as a scenario file's [model.architecture] table
    model: str | None = None
    architecture: dict[str, Any] | None = None
    # a paper's table computed from its own formulas, not a measurement: summarised as its own group
    # and kept out of the measured-error targets
    table: str | None = None
    weights: str
    kv_cache: str = "fp16"
    context_length: int = Field(ge=1)
    batch_size: int = Field(default=1, ge=1)
    flash_attention: bool = True
    gpu: str | None = None
    gpu_memory_utilization: float | None = None
    optimizer: str | None = None
    loss: str | None = None
    recipe: str | None = None
    gradient_checkpointing: bool | None = None
    lora_rank: int | None = None
    lora_targets: list[str] | None = None
    # QLoRA: PEFT's prepare_model_for_kbit_training upcast (unset: the runtime's default); torchtune's
    # optimizer_in_bwd and enable_activation_offloading
    kbit_upcast: bool | None = None
    optimizer_in_backward: bool | None = None
    activation_offloading: bool | None = None
    # transformers inference before 4.42 (generate's tuple cache): the point's version says so
    legacy_cache: bool | None = None
    # QLoRA on bitsandbytes before 0.43.2 (MatMul4Bit keeps its input): the point's version says so
    legacy_bnb: bool | None = None
    # the vLLM release the log came from ("0.10.1.1"): its KV budget and its "GPU KV cache size" line
    # differ by release (runtimes/vllm.py kv_pool_bytes, kv_tokens_line); unset: the release the estimate follows
    vllm_version: str | None = None
    # QLoRA with a 4-bit lm_head (Lightning's BitsandbytesPrecision): the point's harness says so
    quantized_lm_head: bool | None = None
    # a harness that gives a tied checkpoint its own lm_head (LitGPT): the point's harness says so
    untied_lm_head: bool | None = None
    # several micro-batches per optimizer step: the point's config says so
    gradient_accumulation: bool | None = None
    tensor_parallel: int = 1
    pipeline_parallel: int = 1  # a layer split over GPUs (llama.cpp, ollama, device_map)
    # a partial offload: the log's "offloaded N/M layers"; output_first when llama.cpp's --fit placed it
    # (the output layer first, then N - 1 layers) rather than -ngl N (the last N layers)
    gpu_layers: int | None = Field(default=None, ge=0)
    output_first: bool = False
    sequence_parallel: bool = False
    data_parallel: int = 1
    zero_stage: int = 0
    notes: str = ""
    measured: Measured

    @field_validator("runtime")
    @classmethod
    def _runtime(cls, v: str) -> str:
        runtime(v)  # a registered runtime, or the registry's message
        return v

    def scenario(self) -> Scenario:
        work: dict[str, Any] = {"mode": self.mode, "weights": self.weights, "kv_cache": self.kv_cache,
                                "context_length": self.context_length, "batch_size": self.batch_size,
                                "runtime": self.runtime}
        if self.recipe:
            work["recipe"] = self.recipe
        if self.gpu_memory_utilization:
            work["gpu_memory_utilization"] = self.gpu_memory_utilization
        opts: dict[str, Any] = {"flash_attention": self.flash_attention, "tensor_parallel": self.tensor_parallel,
                                "pipeline_parallel": self.pipeline_parallel,
                                "sequence_parallel": self.sequence_parallel,
                                "data_parallel": self.data_parallel, "zero_stage": self.zero_stage}
        for key in ("optimizer", "loss", "gradient_checkpointing", "lora_rank", "lora_targets", "kbit_upcast",
                    "optimizer_in_backward", "activation_offloading", "legacy_cache", "legacy_bnb",
                    "quantized_lm_head", "untied_lm_head", "gradient_accumulation"):
            if getattr(self, key) is not None:
                opts[key] = getattr(self, key)
        if (self.model is None) == (self.architecture is None):
            raise ScenarioError("give exactly one of model (a preset id) or architecture")
        model = {"preset": self.model} if self.model else {"architecture": self.architecture}
        doc: dict[str, Any] = {"model": model, "workload": work, "optimizations": opts}
        if self.gpu:
            doc["hardware"] = {"gpus": [self.gpu]}
        return scenario_from_dict(doc)


@dataclass
class Comparison:
    measure: str
    measured: float  # bytes (or tokens)
    estimated: float

    @property
    def error(self) -> float:
        """Signed relative error of the estimate: +0.10 = 10 % over."""
        return (self.estimated - self.measured) / self.measured if self.measured else 0.0


@dataclass
class PointResult:
    point: Point
    method: str
    comparisons: list[Comparison] = field(default_factory=list)
    total: Comparison | None = None

    @property
    def group(self) -> tuple[str, str]:
        """(runtime or table, mode); a point that measured only a server's KV capacity (tokens, not
        bytes) is summarised apart, as "KV capacity", so memory and capacity errors do not mix."""
        if self.total is not None and self.total.measure == "kv_cache_tokens":
            return self.point.runtime, "KV capacity"
        if self.point.gpu_layers is not None:
            return self.point.runtime, "partial offload"
        return self.point.table or self.point.runtime, self.point.mode


def _estimated(kind: str, s: Scenario, e: Estimate, version: str | None = None) -> float | None:
    if kind.startswith("all:"):  # summed over the GPUs, as a multi-device log adds its buffers
        return e.components[kind.removeprefix("all:")]
    if kind == "weights":
        return _weights(s, e, version)
    if kind in ("kv_cache", "activations"):
        return e.per_gpu[kind]
    if kind == "allocated":
        return e.per_gpu_bytes - e.per_gpu["overhead"]
    if kind == "reserved":  # allocated + allocator slack: everything but the CUDA context
        return e.per_gpu_bytes - runtime(s.workload.runtime).context_mib * MiB
    if kind == "card":
        return e.per_gpu_bytes
    if kind == "model_states":
        if e.method == "guide":  # the guide has no such term: the sum of its weights, gradients and optimizer
            return sum(e.per_gpu[k] for k in ("weights", "gradients", "optimizer_states", "adapters"))
        return e.model_states_per_gpu
    if kind == "saved_activations":  # the guide's activations are all it has
        return e.per_gpu["activations"] if e.method == "guide" else e.saved_activations_per_gpu
    if kind == "allocated_plus_context":
        return e.per_gpu_bytes - e.per_gpu["overhead"] + runtime(s.workload.runtime).context_mib * MiB
    if kind in ("kv_capacity_tokens", "kv_capacity_bytes"):
        if s.hardware.gpus == DEFAULT_GPUS:  # the point names no GPU: capacity cannot be rebuilt
            return None
        f = fit_grid(s, e.method, (s.hardware.gpus[0],))[0]
        if f.kv_capacity_tokens is None:
            return None
        tokens = f.kv_capacity_tokens
        rt = runtime(s.workload.runtime)
        if version and f.estimate is not None and hasattr(rt, "logged_kv_tokens"):  # what that release logs
            from .runtimes.vllm import version_tuple
            from .setup import Setup

            tokens = rt.logged_kv_tokens(Setup(s, f.gpu), f.estimate.per_gpu, f.estimate.kv_bytes_per_token,
                                         version_tuple(version))
        return tokens if kind == "kv_capacity_tokens" else tokens * e.kv_bytes_per_token
    return None


def _weights(s: Scenario, e: Estimate, version: str | None) -> float:
    """The per-GPU weights, as the point's runtime release loads them where it says which (vLLM's MXFP4
    experts are padded per back-end, and the back-end per release)."""
    rt = runtime(s.workload.runtime)
    if not version or e.method == "guide" or not hasattr(rt, "weights_at"):  # the guide has no back-ends
        return e.per_gpu["weights"]
    from .runtimes.vllm import version_tuple
    from .setup import Setup

    return rt.weights_at(Setup(s, presets.gpu(s.hardware.verdict_gpu)), e.per_gpu["weights"], version_tuple(version))


def _planned(kind: str, point: Point, s: Scenario) -> float | None:
    """A partial offload's figure from the plan of the point's own split (precise method only)."""
    from .plan import plan

    gpu = presets.gpu(s.hardware.verdict_gpu)
    p = plan(s, [gpu], gpu_layers=point.gpu_layers, output_first=point.output_first)
    part = kind.split(":")[1]
    if kind.startswith("plan-host:"):
        return p.host_parts.get(part, 0)
    return sum(d.parts.get(part, 0) for d in p.devices)


def compare(point: Point, method: str = "precise", scenario: Scenario | None = None) -> PointResult:
    """The point against the estimate of its setup (or of ``scenario``: the setup with a knob changed)."""
    s = scenario or point.scenario()
    e = estimate(s, method)
    result = PointResult(point, method)
    values = point.measured.model_dump(exclude_none=True)
    for key, value in values.items():
        kind, unit = MEASURES[key]
        if kind.startswith("plan"):
            if method == "guide" or point.gpu_layers is None:  # the guide has no layer split
                continue
            result.comparisons.append(Comparison(key, value * unit, _planned(kind, point, s) or 0))
            continue
        est = _estimated(kind, s, e, point.vllm_version)
        if est is None or (method == "guide" and kind.startswith("kv_capacity")):
            continue
        result.comparisons.append(Comparison(key, value * unit, est))
    result.total = _total(point, s, e, values)
    return result


def _total(point: Point, s: Scenario, e: Estimate, m: dict[str, float]) -> Comparison | None:
    """The point's total is what its source measured: llama.cpp-style buffers, a server's weights
    (+ activation peak), or one whole-process figure."""
    if point.gpu_layers is not None:  # a partial offload: what its GPUs hold
        if e.method == "guide":
            return None
        gpu_parts = [("gpu_weights_mib", "plan:weights"), ("gpu_kv_cache_mib", "plan:kv_cache"),
                     ("gpu_compute_buffer_mib", "plan:activations")]
        have_gpu = [(k, kind) for k, kind in gpu_parts if k in m]
        return Comparison("gpu buffers", sum(m[k] for k, _ in have_gpu) * MiB,
                          sum(_planned(kind, point, s) or 0 for _, kind in have_gpu)) if have_gpu else None
    parts = [("weights_mib", "weights"), ("kv_cache_mib", "kv_cache"), ("compute_buffer_mib", "activations")]
    have = [(k, c) for k, c in parts if k in m]
    if have:
        return Comparison("buffers", sum(m[k] for k, _ in have) * MiB, sum(e.components[c] for _, c in have))
    if "weights_gib" in m:
        if "activation_gib" in m:
            return Comparison("weights+activation", (m["weights_gib"] + m["activation_gib"]) * GiB,
                              _weights(s, e, point.vllm_version) + e.per_gpu["activations"])
        return Comparison("weights", m["weights_gib"] * GiB, _weights(s, e, point.vllm_version))
    for key in ("model_states_gb", "saved_activations_gb", "max_memory_allocated_gib", "max_memory_reserved_gib",
                "peak_memory_gib", "peak_memory_mb", "nvidia_smi_mib", "kv_cache_tokens"):
        if key in m:
            kind, unit = MEASURES[key]
            est = None if (e.method == "guide" and kind.startswith("kv_capacity")) else _estimated(
                kind, s, e, point.vllm_version)
            if est is None:  # a KV capacity the point gives no GPU to rebuild, or the guide's (it has none)
                return None
            return Comparison(key, m[key] * unit, est)
    return None


def points_dir() -> Path:
    packaged = Path(__file__).resolve().parent.parent / "validation" / "points"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "validation" / "points"


class Term(Record):
    """A change the validation set made to the estimator, and the points it rests on."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: Literal["fit", "source"]
    term: str
    where: str
    source: str
    points: list[str] = Field(min_length=1)  # point ids, or fnmatch patterns

    def covers(self, point_id: str) -> bool:
        return any(fnmatch.fnmatchcase(point_id, pattern) for pattern in self.points)


def calibration_terms(path: Path | None = None) -> list[Term]:
    path = path or points_dir().parent / "calibration.toml"
    with path.open("rb") as fh:
        return [Term.model_validate(raw) for raw in tomllib.load(fh)["terms"]]


def calibrates(point: Point, terms: list[Term]) -> list[str]:
    """The ids of the terms this point was used to calibrate or check (empty: out of sample)."""
    return [t.id for t in terms if t.covers(point.id)]


def family(point: Point) -> str:
    """Points from one source that differ only in context length measure one setting: a median counts
    them once."""
    return json.dumps(point.model_dump(exclude={"id", "quote", "notes", "measured", "context_length"}),
                      sort_keys=True, default=str)


def load_points(folder: Path | None = None) -> list[Point]:
    folder = folder or points_dir()
    out: list[Point] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.toml")):
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
        for i, raw in enumerate(doc.get("points", [])):
            try:
                p = Point.model_validate(raw)
                p.scenario()  # the setup must rebuild
            except (ValidationError, ScenarioError, presets.PresetError) as exc:
                raise ScenarioError(f"{path.name}: points[{i}] ({raw.get('id')}): {exc}") from None
            if p.id in seen:
                raise ScenarioError(f"{path.name}: duplicate point id {p.id!r}")
            seen.add(p.id)
            out.append(p)
    return out


@dataclass
class GroupSummary:
    runtime: str
    mode: str
    points: int
    median_abs: float
    worst_abs: float
    worst_id: str


def summarize(results: list[PointResult]) -> list[GroupSummary]:
    groups: dict[tuple[str, str], list[PointResult]] = {}
    tables: set[tuple[str, str]] = set()
    for r in results:
        if r.total is not None:
            groups.setdefault(r.group, []).append(r)
            if r.point.table:
                tables.add(r.group)
    out = []
    # measured groups first, the papers' tables after them
    for (runtime_id, mode), rs in sorted(groups.items(), key=lambda kv: (kv[0] in tables, kv[0])):
        errors = [abs(r.total.error) for r in rs]  # type: ignore[union-attr]
        worst = max(rs, key=lambda r: abs(r.total.error))  # type: ignore[union-attr]
        out.append(GroupSummary(runtime_id, mode, len(rs), statistics.median(errors), max(errors), worst.point.id))
    return out


def validate(method: str = "precise", folder: Path | None = None) -> list[PointResult]:
    return [compare(p, method) for p in load_points(folder)]
