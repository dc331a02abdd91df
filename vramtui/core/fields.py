"""Which setting applies to which scenario, and the bounds of each number: one table the CLI and
the screens both read, so a field greyed out on screen is the flag the CLI warns about."""

from __future__ import annotations

from collections.abc import Callable

from .constants import BNB_4BIT
from .record import Record
from .runtimes import runtime
from .scenario import Optimizations, Scenario, Workload

TRAINING_ONLY = "training only — set the mode on Workload (F3)"
LORA_ONLY = "LoRA / QLoRA only (mode on Workload, F3)"
FULL_ONLY = "full fine-tuning only (mode on Workload, F3)"
QLORA_ONLY = "QLoRA only (mode on Workload, F3)"
NO_ZERO = "a training mode without ZeRO (DeepSpeed's sharded optimizer steps after backward)"
NEEDS_DP = "needs data parallel > 1 and a training mode"
NEEDS_TP = "needs tensor parallel > 1 and a training mode"
HF_INFERENCE = "transformers inference only (runtime and mode on Workload, F3)"
BNB_QLORA = "QLoRA on bitsandbytes 4-bit weights (nf4, nf4-dq) only (mode and weights on Workload, F3)"


def _training(s: Scenario) -> bool:
    return s.workload.mode != "inference"


def _preallocating(s: Scenario) -> str | None:
    rt = runtime(s.workload.runtime)
    return None if rt.preallocates else f"servers that pre-allocate (vLLM, SGLang) only; {rt.label} allocates what it needs"


def _layer_split(s: Scenario) -> str | None:
    rt = runtime(s.workload.runtime)
    return rt.multi_gpu_reason if rt.multi_gpu == "layers" else None


# field -> reason it does not apply to this scenario (None: it applies)
OFF: dict[str, Callable[[Scenario], str | None]] = {
    "recipe": lambda s: None if s.workload.mode == "full" else FULL_ONLY,
    "gpu_memory_utilization": _preallocating,
    "gradient_checkpointing": lambda s: None if _training(s) else TRAINING_ONLY,
    "optimizer": lambda s: None if _training(s) else TRAINING_ONLY,
    "loss": lambda s: None if _training(s) else TRAINING_ONLY,
    "lora_rank": lambda s: None if s.workload.mode in ("lora", "qlora") else LORA_ONLY,
    "lora_targets": lambda s: None if s.workload.mode in ("lora", "qlora") else LORA_ONLY,
    "zero_stage": lambda s: None if _training(s) and s.optimizations.data_parallel > 1 else NEEDS_DP,
    "cpu_offload": lambda s: None if s.workload.mode == "full" else FULL_ONLY,
    "kbit_upcast": lambda s: None if s.workload.mode == "qlora" else QLORA_ONLY,
    "optimizer_in_backward": lambda s: (TRAINING_ONLY if not _training(s) else NO_ZERO
                                        if s.optimizations.zero_stage and s.optimizations.data_parallel > 1 else None),
    "activation_offloading": lambda s: None if _training(s) else TRAINING_ONLY,
    "legacy_bnb": lambda s: None if s.workload.mode == "qlora" and s.workload.weights in BNB_4BIT else BNB_QLORA,
    "quantized_lm_head": lambda s: None if s.workload.mode == "qlora" and s.workload.weights in BNB_4BIT else BNB_QLORA,
    "gradient_accumulation": lambda s: None if _training(s) else TRAINING_ONLY,
    "untied_lm_head": lambda s: None if _training(s) else TRAINING_ONLY,
    "legacy_cache": lambda s: None if runtime(s.workload.runtime).legacy_cache and not _training(s) else HF_INFERENCE,
    "data_parallel": lambda s: None if _training(s) else TRAINING_ONLY,
    "sequence_parallel": lambda s: None if _training(s) and s.optimizations.tensor_parallel > 1 else NEEDS_TP,
    "tensor_parallel": lambda s: _layer_split(s) if s.optimizations.tensor_parallel == 1 else None,
}


def why_off(s: Scenario, field: str) -> str | None:
    """Why ``field`` has no effect on this scenario, or None when it applies."""
    rule = OFF.get(field)
    return rule(s) if rule else None


def bounds(field: str) -> tuple[int | float | None, int | float | None]:
    """(lowest, highest) a numeric workload/optimization field allows, from the scenario's own schema."""
    model: type[Record] = Workload if field in Workload.model_fields else Optimizations
    info = model.model_fields[field]
    return (info.ge if info.ge is not None else info.gt), info.le
