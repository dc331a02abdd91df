"""What a runtime is to the estimator: the rules it enforces, its defaults, and how it lays memory out.

A runtime module subclasses ``Runtime`` and overrides what differs; the estimator, the fit grid, the
validation set, the CLI and the screens ask the runtime instead of comparing its name. Every rule
and default cites the runtime's own source or documentation.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from ..formats import KVFormat, WeightFormat
from ..formula import SILENT, Term, explain, explaining, mib, percent, size
from ..plan import Flag, Host, Plan, PlanError
from ..units import MiB

if TYPE_CHECKING:
    from ..gpuspec import GPUSpec
    from ..layer_split import Placement
    from ..scenario import Scenario
    from ..setup import Setup

ALL_MODES = ("inference", "lora", "qlora", "full")


class Part(NamedTuple):
    """One component: its bytes on the busiest GPU and the formula that gave them."""

    bytes: int
    why: str = ""
    notes: tuple[str, ...] = ()


class Finding(NamedTuple):
    """A setup the runtime refuses (or warns about): the settings involved and why, with a source."""

    fields: tuple[str, ...]  # key paths, the first is the one to flag ("workload.mode")
    message: str

    def __str__(self) -> str:
        return self.message


def setting(path: str, value: object) -> str:
    return f"{path} = {value}"


class Runtime:
    """Defaults are transformers-like; each runtime overrides what its engine does differently."""

    id: ClassVar[str]
    label: ClassVar[str]
    summary: ClassVar[str]  # one line for help text and the runtime table

    modes: ClassVar[tuple[str, ...]] = ("inference",)
    modes_reason: ClassVar[str] = "it serves models; it does not train them"
    # weight-format kinds it loads as they are ("float", "quant", "gguf", "nominal")
    weight_kinds: ClassVar[tuple[str, ...]] = ("float", "quant", "nominal")
    native_kinds: ClassVar[tuple[str, ...]] = ()  # formats it is the usual home of (a GGUF file: llama.cpp)
    kv_formats: ClassVar[tuple[str, ...]] = ("fp32", "fp16", "bf16")
    kv_reason: ClassVar[str] = ""
    # how more than one GPU shares a model: "tensor" (each layer split, TP) or "layers" (whole layers per GPU)
    multi_gpu: ClassVar[str] = "tensor"
    multi_gpu_reason: ClassVar[str] = ""
    measurable: ClassVar[bool] = False  # `vramtui measure` can build and run it (transformers models)
    preallocates: ClassVar[bool] = False  # takes a share of the card up front and fills it with KV cache
    legacy_cache: ClassVar[bool] = False  # has had a tuple KV cache in older versions (optimizations.legacy_cache)
    # memory outside the framework's counters per GPU (CUDA context, libraries), and allocator slack
    # bytes per element of a hybrid model's recurrent state (linear attention / Mamba layers): the model's
    # dtype in transformers, vLLM (--mamba-ssm-cache-dtype auto) and SGLang; llama.cpp keeps f32 (llamacpp.py)
    recurrent_state_bytes: ClassVar[float] = 2.0
    # inference activations grow with the workload's context and batch; False where the runtime sizes
    # them by its own batch (vLLM's profile run): the fit solvers then compute them once per GPU key for
    # the batches up to fixed_batch (tests/test_fit_cache.py checks they read neither there)
    activations_follow_workload: ClassVar[bool] = True
    context_mib: ClassVar[int] = 500
    slack: ClassVar[tuple[float, float]] = (0.0, 0.10)  # (inference, training) share of allocated bytes

    # --- what it accepts ----------------------------------------------------------------------
    def refusals(self, s: Scenario, weights: WeightFormat, kv: KVFormat) -> list[Finding]:
        """Setups this runtime cannot run, each naming both settings."""
        w, o = s.workload, s.optimizations
        rt = setting("workload.runtime", self.id)
        out: list[Finding] = []
        if w.mode not in self.modes:
            out.append(Finding(("workload.mode", "workload.runtime"),
                               f"{setting('workload.mode', w.mode)} is not possible with {rt}: {self.modes_reason}"))
        if w.mode != "full":  # full fine-tuning trains 16/32-bit weights whatever the file's format
            why = self.weight_refusal(weights)
            if why:
                out.append(Finding(("workload.weights", "workload.runtime"),
                                   f"{setting('workload.weights', weights.id)} is not possible with {rt}: {why}"))
        if not s.is_training and kv.id not in self.kv_formats:
            out.append(Finding(("workload.kv_cache", "workload.runtime"),
                               f"{setting('workload.kv_cache', kv.id)} is not possible with {rt}: its KV-cache types "
                               f"are {', '.join(self.kv_formats)}{'; ' + self.kv_reason if self.kv_reason else ''}"))
        if self.multi_gpu == "layers" and o.tensor_parallel > 1:
            out.append(Finding(("optimizations.tensor_parallel", "workload.runtime"),
                               f"{setting('optimizations.tensor_parallel', o.tensor_parallel)} is not possible with {rt}: "
                               f"{self.multi_gpu_reason}; set pipeline_parallel to the GPU count instead"))
        return out

    def weight_refusal(self, fmt: WeightFormat) -> str | None:
        """Why it cannot load weights of this format (None: it can)."""
        return None if fmt.kind in self.weight_kinds else f"it does not load {fmt.label} weights"

    def warnings(self, setup: Setup) -> list[str]:
        """Setups it runs, but not as the numbers might suggest (on this GPU)."""
        return []

    # --- defaults -------------------------------------------------------------------------------
    def flash_attention_default(self, s: Scenario) -> tuple[bool, str]:
        """(on?, why) when the scenario leaves flash_attention unset."""
        return True, "memory-efficient attention (SDPA / FlashAttention) is the default"

    def checkpointing_default(self, s: Scenario) -> tuple[bool, str]:
        return False, "off unless asked for"

    def kbit_upcast_default(self, s: Scenario) -> tuple[bool, str]:
        """(on?, why) for QLoRA's fp32 upcast of the unquantized tensors when the scenario leaves it unset."""
        return False, "only PEFT's QLoRA path does it"

    def memory_share(self, s: Scenario, gpu: GPUSpec) -> tuple[float, str] | None:
        """The share of the card it pre-allocates (gpu_memory_utilization / mem_fraction_static), if any."""
        return None

    def loads_extra_modules(self, s: Scenario) -> tuple[bool, str]:
        """Whether a model's modules outside the language model (a vision tower) are loaded, and why not."""
        return True, ""

    def gpu_key(self, gpu: GPUSpec, s: Scenario) -> Hashable:
        """What about a GPU changes this runtime's estimate of ``s`` (None: nothing); the fit grid memoises on it."""
        return None

    def fixed_batch(self, gpu: GPUSpec) -> int | None:
        """The largest batch up to which the parts it calls fixed (the inference activations where
        ``activations_follow_workload`` is False, a ``fixed_overhead``) read neither context nor batch on
        ``gpu`` (None: any batch)."""
        return None

    def multi_gpu_field(self, s: Scenario) -> str:
        """The parallelism setting that spreads this scenario over more GPUs."""
        return "pipeline_parallel" if self.multi_gpu == "layers" else "tensor_parallel"

    # --- memory layout --------------------------------------------------------------------------
    def load_format(self, fmt: WeightFormat) -> WeightFormat:
        """The format the weights take in GPU memory once loaded (transformers dequantizes GGUF)."""
        return fmt

    def host_weight_bytes(self, setup: Setup, fmt: WeightFormat) -> tuple[int, str]:
        """Weights it keeps in host RAM even when every layer is offloaded, and why."""
        return 0, ""

    def weight_padding_bytes(self, setup: Setup, fmt: WeightFormat) -> tuple[int, str]:
        """Bytes its kernels' alignment adds to the weights as it loads them, over all the tensor-parallel
        ranks (the weights term divides by TP), and why."""
        return 0, ""

    def kv_block_tokens(self, setup: Setup) -> int:
        """Tokens per KV allocation unit; the KV cache is flat inside a block (the fit solvers use it)."""
        return 1

    def window_cells(self, setup: Setup, tokens: int, batch: int) -> tuple[int | None, str]:
        """KV cells one sliding-window layer holds for ``batch`` sequences of ``tokens`` (None: the
        window is not honoured, the layer caches every token), and why."""
        window = setup.spec.sliding_window or tokens
        return min(tokens, window) * batch, f"sliding-window layers hold ≤ {window:,} tokens"

    def mla_cache(self, setup: Setup) -> tuple[int, str] | None:
        """(elements per token per layer, how) when it caches MLA keys/values other than as the latent."""
        return None

    def inference_activations(self, setup: Setup) -> Part:
        raise NotImplementedError

    def partial_offload_compute(self, setup: Setup, full: int, *, output_bytes: int | None, host_layers: int,
                                kv_layer: int) -> tuple[int, int | None]:
        """A layer split's compute buffers when part of the model stays in host RAM: the first GPU's
        (``full``: its buffer with every layer offloaded) and the host's (None: the runtime's default),
        given the output layer's bytes when it is on the host (else None), how many repeating layers
        the host keeps and one layer's KV cache."""
        return full, None

    def overhead(self, setup: Setup, per: Mapping[str, int]) -> Part:
        """Memory outside the framework's counters, given the other components on this GPU."""
        bytes_, f = self.base_overhead(setup, per)
        return Part(bytes_, explain(f, f"CUDA context and {self.label}'s own allocations"))

    def fixed_overhead(self, setup: Setup) -> Part | None:
        """The overhead, where it reads no other component, nor context, nor the batch up to
        ``fixed_batch``: the fit solvers make it once per GPU key (None: each estimate makes its own)."""
        return None

    def base_overhead(self, setup: Setup, per: Mapping[str, int]) -> tuple[int, Term]:
        """CUDA context, NCCL and allocator slack: the bytes and the arithmetic shown beside them."""
        allocated = sum(per.values())
        slack = self.slack[1 if setup.training else 0]
        nccl = setup.nccl_mib
        bytes_ = (self.context_mib + nccl) * MiB + int(allocated * slack)
        if not explaining():  # the fit solvers: the bytes alone
            return bytes_, SILENT
        f = mib(self.context_mib, "CUDA context and runtime")
        if nccl:
            f = f + mib(nccl, "NCCL")
        if slack:
            f = f + percent(slack, "allocator slack") * size(allocated, "allocated")
        return bytes_, f

    def usable_bytes(self, s: Scenario, gpu: GPUSpec) -> int:
        """What the scenario may occupy on this card."""
        return gpu.usable_bytes

    def kv_capacity_tokens(self, setup: Setup, per_gpu: Mapping[str, int], kv_per_token: int) -> int | None:
        """KV tokens a pre-allocating runtime reserves on this card (None: it allocates what is asked)."""
        return None

    def kv_capacity_rule(self, setup: Setup, per_gpu: Mapping[str, int], kv_per_token: int
                         ) -> Callable[[GPUSpec, int], int | None]:
        """``kv_capacity_tokens`` with this estimate on any card of ``setup``'s GPU key, as a function of the
        card and its usable bytes: the fit grid makes it once per key and applies it per card size, so a
        runtime can make once here what reads only the key."""
        return lambda gpu, usable: self.kv_capacity_tokens(setup.varied(setup.context, setup.batch, gpu), per_gpu,
                                                           kv_per_token)

    # --- plans and launch commands --------------------------------------------------------------
    def plan(self, s: Scenario, gpus: tuple[GPUSpec, ...], host: Host, gpu_layers: int | None,
             tensor_split: Sequence[float] | None) -> Plan:
        """Where everything goes on ``gpus``; servers and transformers shard, training adds ZeRO."""
        if gpu_layers is not None or tensor_split is not None:
            raise PlanError(f"--gpu-layers and --tensor-split are for layer-split runtimes; {self.label} "
                            f"spreads over GPUs with {self.multi_gpu_field(s).replace('_', ' ')}")
        from ..planners import sharded_plan, training_plan

        return training_plan(s, gpus, host) if s.is_training else sharded_plan(s, gpus, host)

    def launch(self, s: Scenario, numbers: Mapping[str, Any], placement: Placement | None
               ) -> tuple[str, tuple[Flag, ...], dict[str, str]]:
        """The command that starts this plan, each flag with the plan number it comes from, and any files."""
        raise NotImplementedError
