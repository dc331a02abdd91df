"""A scenario on one GPU with every default resolved: what the component functions read.

The scenario leaves some settings to the runtime (flash attention, checkpointing, the share of the
card a server pre-allocates); ``Setup`` asks the runtime once, so each component is a pure function
of one value and no step reads what another step wrote. Values are resolved when the Setup is made
(plain slots, not cached properties): the fit grid's solvers build thousands of them.

Context and batch are slots of their own (``context``, ``batch``), and every estimate reads them
there rather than from the workload: the solvers vary them with ``varied``, which copies the
resolved slots instead of copying the scenario and resolving it again.
"""

from __future__ import annotations

import math

from . import constants as K
from .formats import KVFormat, WeightFormat, kv_format, weight_format
from .gpuspec import GPUSpec
from .model import ModelSpec, ParamCounts
from .recipes import RECIPES, Recipe
from .runtimes import Runtime, runtime
from .scenario import Optimizations, Scenario, Workload


class Setup:
    __slots__ = ("s", "gpu", "runtime", "spec", "counts", "w", "o", "weight_format", "kv_format", "recipe",
                 "flash", "checkpointing", "training", "tp", "pp", "dp", "zero", "stage_layers", "layer_share",
                 "kv_block", "kv_tokens", "upcast", "context", "batch")

    def __init__(self, s: Scenario, gpu: GPUSpec) -> None:
        self.s, self.gpu = s, gpu
        self.w: Workload = s.workload
        self.o: Optimizations = s.optimizations
        self.spec: ModelSpec = s.model.spec
        self.runtime: Runtime = runtime(self.w.runtime)
        self.counts: ParamCounts = self.spec.counts()
        # the format the weights take in memory once this runtime has loaded them
        self.weight_format: WeightFormat = self.runtime.load_format(weight_format(self.w.weights))
        self.kv_format: KVFormat = kv_format(self.w.kv_cache)
        self.recipe: Recipe = RECIPES[self.w.recipe]
        # (value, why): the scenario's setting, or the runtime's default and its reason
        self.flash = _resolved(self.o.flash_attention, self.runtime.flash_attention_default(s))
        self.checkpointing = _resolved(self.o.gradient_checkpointing, self.runtime.checkpointing_default(s))
        self.training = self.w.mode != "inference"
        if self.training and self.o.untied_lm_head and self.counts.lm_head == 0:
            # the harness's own lm_head beside the tied embedding (optimizations.untied_lm_head): a full
            # fine-tune trains it too, so it counts in the gradients and optimizer states as well
            self.counts = self.counts._replace(lm_head=self.spec.vocab_size * self.spec.hidden_size)
        self.upcast = _resolved(self.o.kbit_upcast, self.runtime.kbit_upcast_default(s))
        self.tp, self.pp, self.dp = self.o.tensor_parallel, self.o.pipeline_parallel, self.o.data_parallel
        self.zero = self.o.zero_stage if (self.training and self.dp > 1) else 0
        layers = self.spec.num_hidden_layers
        self.stage_layers = math.ceil(layers / self.pp)
        self.layer_share = self.stage_layers / layers
        self.kv_block = self.runtime.kv_block_tokens(self)
        self._set_numbers(self.w.context_length, self.w.batch_size)

    def _set_numbers(self, context: int, batch: int) -> None:
        self.context, self.batch = context, batch
        # context rounded up to the runtime's KV allocation unit
        self.kv_tokens = math.ceil(context / self.kv_block) * self.kv_block

    def varied(self, context: int, batch: int, gpu: GPUSpec | None = None) -> Setup:
        """The same setup with another context and batch (and on ``gpu``, if given), as the fit solvers
        need it dozens of times per card: the other slots are copied, not resolved again (none of them
        reads context or batch, and only the KV block size is asked of the runtime with the card).

        ``s`` and ``w`` stay the scenario's own, with its own context and batch: what an estimate
        reads of those two comes from ``context`` and ``batch`` (tests/test_fit_cache.py checks a varied
        setup estimates exactly as a setup of the changed scenario does, over runtimes, modes and models).
        """
        new = object.__new__(Setup)
        # one statement per slot rather than a getattr/setattr loop over them: a third of the time, and
        # the solvers make ~90 per grid; a slot left out here raises AttributeError in the tests
        new.s, new.gpu, new.runtime, new.spec, new.counts, new.w, new.o = (
            self.s, self.gpu, self.runtime, self.spec, self.counts, self.w, self.o)
        new.weight_format, new.kv_format, new.recipe, new.flash, new.checkpointing, new.training = (
            self.weight_format, self.kv_format, self.recipe, self.flash, self.checkpointing, self.training)
        new.tp, new.pp, new.dp, new.zero, new.stage_layers, new.layer_share, new.kv_block, new.upcast = (
            self.tp, self.pp, self.dp, self.zero, self.stage_layers, self.layer_share, self.kv_block, self.upcast)
        if gpu is not None and gpu is not self.gpu:
            new.gpu = gpu
            new.kv_block = new.runtime.kv_block_tokens(new)
        new._set_numbers(context, batch)
        return new

    def resolved(self) -> dict:
        """What the runtime decided where the scenario left it open, each with its reason (``--json``)."""
        share = self.runtime.memory_share(self.s, self.gpu)
        return {
            "gpu": self.gpu.id,
            "weights_in_memory": self.weight_format.id,
            "flash_attention": {"value": self.flash[0], "why": self.flash[1]},
            "gradient_checkpointing": {"value": self.checkpointing[0], "why": self.checkpointing[1]},
            "kbit_upcast": {"value": self.kbit_fp32, "why": self.upcast[1]} if self.w.mode == "qlora" else None,
            "memory_share": None if share is None else {"value": share[0], "why": share[1]},
            "kv_tokens_per_sequence": self.kv_tokens,
            "zero_stage": self.zero,
        }

    @property
    def flash_attention(self) -> bool:
        return self.flash[0]

    @property
    def gradient_checkpointing(self) -> bool:
        return self.checkpointing[0]

    @property
    def kbit_fp32(self) -> bool:
        """QLoRA with the unquantized tensors (embeddings, lm_head, norms) and so the residual in fp32."""
        return self.w.mode == "qlora" and self.upcast[0]

    @property
    def act_bytes(self) -> int:
        """Bytes per activation element: fp32 training keeps fp32 activations."""
        return self.recipe.activation_bytes if self.w.mode == "full" else 2

    @property
    def nccl_mib(self) -> int:
        return K.NCCL_MIB if self.o.gpus > 1 else 0


def _resolved(value: bool | None, default: tuple[bool, str]) -> tuple[bool, str]:
    """The scenario's setting when it has one, else the runtime's default and its reason."""
    return (value, "set in the scenario") if value is not None else default
