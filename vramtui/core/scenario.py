"""The scenario: model + workload + optimisations + hardware, exactly what a TOML file holds.

Frozen records (``core/record.py``: pydantic's interface and error wording, without its import cost):
the TUI replaces a scenario with ``model_copy(update=...)`` and never mutates one, so every view can
re-render from the new value without diffing.
"""

# Annotations are evaluated at class creation here (no `from __future__ import annotations`): the
# records read their field types with typing.get_type_hints, which compiles each string annotation
# anew, about 1 ms of every command's and the TUI's start-up (docs/performance.md).

from typing import Literal

from .formats import KV_FORMATS, WEIGHT_FORMATS, kv_format, weight_format
from .model import ModelSpec
from .recipes import RECIPES as RECIPE_TABLE
from .record import ConfigDict, Field, Record, field_validator, model_validator
from .rules import check
from .runtimes import RUNTIME_IDS
from .units import fmt_tokens

SCHEMA_VERSION = 1
MAX_CONTEXT = 1 << 24  # 16M tokens: beyond any released model's window
MAX_BATCH = 1 << 16
MAX_PARALLEL = 4096

Mode = Literal["inference", "lora", "qlora", "full"]
Recipe = Literal["fp32", "amp", "bf16-mixed", "bf16-pure"]
Optimizer = Literal["adamw", "adamw-8bit", "adafactor", "sgd", "sgd-momentum", "lion"]
Loss = Literal["fp32-logits", "bf16-logits", "chunked"]
Method = Literal["precise", "guide"]

MODES: tuple[str, ...] = ("inference", "lora", "qlora", "full")
RUNTIMES: tuple[str, ...] = RUNTIME_IDS  # the registry's order (core/runtimes)
RECIPES: tuple[str, ...] = tuple(RECIPE_TABLE)
OPTIMIZERS: tuple[str, ...] = ("adamw", "adamw-8bit", "adafactor", "sgd", "sgd-momentum", "lion")
LOSSES: tuple[str, ...] = ("fp32-logits", "bf16-logits", "chunked")
LORA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DEFAULT_GPUS: tuple[str, ...] = (  # a curated spread across budgets; the first is the verdict's
    "rtx-4090", "rtx-3060-12gb", "rtx-4060-ti-16gb", "rtx-3090", "rtx-5090", "l4", "l40s", "rtx-6000-ada",
    "a100-40gb", "a100-80gb", "h100-80gb", "h200", "mi300x", "m4-max-128gb",
)

# strict: a file's "yes" is not a boolean and "4" is not a batch size; say so instead of guessing
_FROZEN = ConfigDict(extra="forbid", frozen=True, strict=True)


class ModelChoice(Record):
    """Where the model comes from, and the resolved architecture.

    Exactly one of ``preset`` / ``config`` names the source in the file; ``spec`` is always the
    resolved architecture so that the estimator stays a pure function of the scenario.
    """

    model_config = _FROZEN

    preset: str | None = None
    config: str | None = None  # path to a Hugging Face config.json, as written in the file
    hub: str | None = None  # a Hugging Face repo id (config.json + safetensors headers)
    revision: str | None = None  # with hub: a branch, tag or commit
    folder: str | None = None  # a local model folder (config.json + safetensors headers)
    gguf: str | None = None  # a GGUF file: a path, or org/name/file.gguf on the Hub
    mmproj: str | None = None  # with gguf: the vision projector GGUF loaded beside it (llama.cpp --mmproj)
    draft: str | None = None  # a draft model for speculative decoding (a preset, Hub id or .gguf), as written
    draft_spec: ModelSpec | None = None
    spec: ModelSpec

    @property
    def label(self) -> str:
        return self.spec.name

    def source_json(self) -> dict[str, str | None]:
        """Where the model came from, for ``--json``: kind, reference, revision, stored format."""
        for kind in ("preset", "hub", "folder", "gguf", "config"):
            ref = getattr(self, kind)
            if ref:
                out: dict[str, str | None] = {"kind": kind, "ref": ref}
                if kind == "hub":
                    out["revision"] = self.revision
                if self.mmproj:
                    out["mmproj"] = self.mmproj
                if self.draft:
                    out["draft"] = self.draft
                if self.spec.stored_format:
                    out["stored_format"] = self.spec.stored_format
                return out
        return {"kind": "architecture", "ref": self.spec.id}


class Workload(Record):
    model_config = _FROZEN

    mode: Mode = "inference"
    weights: str = "bf16"
    kv_cache: str = "fp16"
    batch_size: int = Field(default=1, ge=1, le=MAX_BATCH)
    context_length: int = Field(default=8192, ge=1, le=MAX_CONTEXT)
    runtime: str = RUNTIME_IDS[0]  # the registry lists transformers first
    recipe: Recipe = "bf16-mixed"
    # the share of the card a pre-allocating server takes (vLLM's gpu_memory_utilization, SGLang's
    # mem_fraction_static); unset: the runtime's default, which for SGLang depends on the GPU
    gpu_memory_utilization: float | None = Field(default=None, gt=0.0, le=1.0)

    @field_validator("runtime")
    @classmethod
    def _runtime(cls, v: str) -> str:
        if v not in RUNTIME_IDS:
            raise ValueError(f"unknown runtime {v!r}; allowed: {', '.join(RUNTIME_IDS)}")
        return v

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: str) -> str:
        return weight_format(v).id

    @field_validator("kv_cache")
    @classmethod
    def _kv(cls, v: str) -> str:
        return kv_format(v).id

    @model_validator(mode="after")
    def _qlora_base(self) -> "Workload":
        if self.mode == "qlora" and not weight_format(self.weights).is_4bit:
            allowed = [f.id for f in WEIGHT_FORMATS.values() if f.is_4bit]
            raise ValueError(f"QLoRA trains on a 4-bit base: weights must be one of {', '.join(allowed)}")
        return self


class Optimizations(Record):
    model_config = _FROZEN

    # unset (None): what the runtime does by default (Setup resolves it; the screens say which)
    flash_attention: bool | None = None
    gradient_checkpointing: bool | None = None
    optimizer: Optimizer = "adamw"
    loss: Loss = "fp32-logits"  # training: how the cross-entropy holds the logits (constants.LOSS_LOGIT_BYTES)
    lora_rank: int = Field(default=16, ge=1, le=4096)
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")
    zero_stage: int = Field(default=0, ge=0, le=3)
    cpu_offload: bool = False
    # QLoRA: PEFT's prepare_model_for_kbit_training casts every tensor left unquantized (embeddings,
    # lm_head, norms) to fp32, so the residual stream and the logits are fp32 too; unset: the runtime's way
    kbit_upcast: bool | None = None
    # torchtune's optimizer_in_bwd: each parameter is stepped as its gradient is made, then freed, so
    # the gradients never exist all at once (PyTorch tutorial "optimizer_step_in_backward")
    optimizer_in_backward: bool = False
    # torchtune's enable_activation_offloading: the tensors saved for backward wait in host RAM
    activation_offloading: bool = False
    # transformers before 4.42: generate() hands the cache to each forward as tuples and keeps that tuple
    # until the forward returns, so the last decode step holds the previous cache beside the new one
    legacy_cache: bool = False
    # QLoRA on bitsandbytes before 0.43.2: MatMul4Bit keeps every 4-bit layer's input for backward, frozen
    # or not (bitsandbytes/autograd/_functions.py; fixed by commit 9e75374, #1270)
    legacy_bnb: bool = False
    # QLoRA with lm_head quantized too (Lightning's BitsandbytesPrecision, which LitGPT's --quantize bnb.* uses,
    # replaces every nn.Linear, lm_head included: lightning/fabric/plugins/precision/bitsandbytes.py): a 4-bit,
    # untied lm_head, and bitsandbytes' MatMul4Bit dequantizes its whole weight (fp16, then cast to bf16) on
    # every call, so its backward holds two vocab x hidden copies
    quantized_lm_head: bool = False
    # training with the lm_head its own matrix even where the checkpoint ties it to the embedding: LitGPT's GPT
    # always builds lm_head (litgpt/model.py) and convert_hf_checkpoint.py copies a tied embedding into it
    untied_lm_head: bool = False
    # training with gradient accumulation (several micro-batches per optimizer step): from the second
    # micro-batch on, every gradient exists while the next backward starts (LitGPT's finetune loops,
    # HF Trainer's gradient_accumulation_steps > 1)
    gradient_accumulation: bool = False
    tensor_parallel: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    # training with TP > 1: also split the layer norms' and dropouts' activations along the sequence
    # (Megatron's --sequence-parallel; Korthikanti et al. 2022). Off is the larger, safer figure.
    sequence_parallel: bool = False
    pipeline_parallel: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    data_parallel: int = Field(default=1, ge=1, le=MAX_PARALLEL)

    @field_validator("lora_targets", mode="before")
    @classmethod
    def _targets(cls, v):
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, (list, tuple)):
            raise ValueError("must be a list of target names")
        items = list(v)
        if items == ["all-linear"]:
            return LORA_TARGETS
        bad = [t for t in items if t not in LORA_TARGETS]
        if bad:
            raise ValueError(f"unknown LoRA target {bad[0]!r}; allowed: all-linear, {', '.join(LORA_TARGETS)}")
        if not items:
            raise ValueError("at least one LoRA target is needed")
        return tuple(dict.fromkeys(items))

    @property
    def gpus(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel * self.data_parallel


class Hardware(Record):
    model_config = _FROZEN

    gpus: tuple[str, ...] = DEFAULT_GPUS
    selected: str | None = Field(default=None, description="the GPU the verdict uses (default: the first)")

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpus(cls, v):
        if isinstance(v, list):
            v = tuple(v)
        if not isinstance(v, tuple):
            raise ValueError('must be a list of GPU ids, e.g. ["rtx-4090", "a100-80gb"]')
        if not v:
            raise ValueError("needs at least one GPU id")
        return v

    @model_validator(mode="after")
    def _selected(self) -> "Hardware":
        if self.selected is not None and self.selected not in self.gpus:
            raise ValueError(f"selected {self.selected!r} is not one of the compared gpus")
        return self

    @property
    def verdict_gpu(self) -> str:
        return self.selected or self.gpus[0]


class Scenario(Record):
    model_config = _FROZEN

    schema_: int = Field(default=SCHEMA_VERSION, alias="schema")
    name: str = ""
    model: ModelChoice
    workload: Workload = Workload()
    optimizations: Optimizations = Optimizations()
    hardware: Hardware = Hardware()

    @field_validator("schema_")
    @classmethod
    def _schema(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"schema {v} is not supported; this version reads schema {SCHEMA_VERSION}")
        return v

    @model_validator(mode="after")
    def _runnable(self) -> "Scenario":
        check(self)  # the runtime's refusals (core/rules.py), each naming both settings
        return self

    def replace(self, section: str | None = None, **changes) -> "Scenario":
        """A new scenario with ``changes`` applied (validated, runtime rules included)."""
        if section is None:
            data = self.model_dump(by_alias=True)
            data.update(changes)
            return Scenario.model_validate(data)
        part = getattr(self, section)
        new_part = type(part).model_validate({**part.model_dump(), **changes})
        new = self.model_copy(update={section: new_part})
        check(new)
        return new

    @property
    def is_training(self) -> bool:
        return self.workload.mode != "inference"

    @property
    def summary(self) -> str:
        w, o = self.workload, self.optimizations
        parts = [self.model.spec.name, w.mode, w.weights, f"KV {w.kv_cache}", f"{fmt_tokens(w.context_length)} ctx",
                 f"batch {w.batch_size}", w.runtime]
        if o.gpus > 1:
            parts.append(f"TP{o.tensor_parallel}·PP{o.pipeline_parallel}·DP{o.data_parallel}")
        return " · ".join(parts)


__all__ = [
    "KV_FORMATS", "WEIGHT_FORMATS", "ModelChoice", "Workload", "Optimizations", "Hardware", "Scenario",
    "MODES", "RUNTIMES", "RECIPES", "OPTIMIZERS", "LORA_TARGETS", "SCHEMA_VERSION",
]
