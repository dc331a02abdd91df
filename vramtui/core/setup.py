"""A scenario on one GPU with every default resolved: what the component functions read.

The scenario leaves some settings to the runtime (flash attention, checkpointing, the share of the
card a server pre-allocates); ``Setup`` asks the runtime once, so each component is a pure function
of one value and no step reads what another step wrote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from . import constants as K
from .formats import KVFormat, WeightFormat, kv_format, weight_format
from .model import ModelSpec, ParamCounts
from .presets import GPUSpec
from .recipes import RECIPES, Recipe
from .runtimes import Runtime, runtime
from .scenario import Optimizations, Scenario, Workload


@dataclass(frozen=True)
class Setup:
    s: Scenario
    gpu: GPUSpec

    # --- inputs -------------------------------------------------------------------------------
    @cached_property
    def runtime(self) -> Runtime:
        return runtime(self.s.workload.runtime)

    @property
    def spec(self) -> ModelSpec:
        return self.s.model.spec

    @cached_property
    def counts(self) -> ParamCounts:
        return self.spec.counts()

    @property
    def w(self) -> Workload:
        return self.s.workload

    @property
    def o(self) -> Optimizations:
        return self.s.optimizations

    @cached_property
    def weight_format(self) -> WeightFormat:
        """The format the weights take in memory once this runtime has loaded them."""
        return self.runtime.load_format(weight_format(self.w.weights))

    @cached_property
    def kv_format(self) -> KVFormat:
        return kv_format(self.w.kv_cache)

    @property
    def recipe(self) -> Recipe:
        return RECIPES[self.w.recipe]

    # --- resolved defaults ------------------------------------------------------------------------
    @cached_property
    def flash(self) -> tuple[bool, str]:
        return _resolved(self.o.flash_attention, self.runtime.flash_attention_default(self.s))

    @property
    def flash_attention(self) -> bool:
        return self.flash[0]

    @cached_property
    def checkpointing(self) -> tuple[bool, str]:
        return _resolved(self.o.gradient_checkpointing, self.runtime.checkpointing_default(self.s))

    @property
    def gradient_checkpointing(self) -> bool:
        return self.checkpointing[0]

    # --- derived ----------------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        return self.w.mode != "inference"

    @property
    def tp(self) -> int:
        return self.o.tensor_parallel

    @property
    def pp(self) -> int:
        return self.o.pipeline_parallel

    @property
    def dp(self) -> int:
        return self.o.data_parallel

    @property
    def zero(self) -> int:
        return self.o.zero_stage if (self.training and self.dp > 1) else 0

    @property
    def stage_layers(self) -> int:
        return math.ceil(self.spec.num_hidden_layers / self.pp)

    @property
    def layer_share(self) -> float:
        return self.stage_layers / self.spec.num_hidden_layers

    @property
    def act_bytes(self) -> int:
        """Bytes per activation element: fp32 training keeps fp32 activations."""
        return self.recipe.activation_bytes if self.w.mode == "full" else 2

    @property
    def nccl_mib(self) -> int:
        return K.NCCL_MIB if self.o.gpus > 1 else 0

    @cached_property
    def kv_block(self) -> int:
        return self.runtime.kv_block_tokens(self)

    @property
    def kv_tokens(self) -> int:
        """Context rounded up to the runtime's KV allocation unit."""
        return math.ceil(self.w.context_length / self.kv_block) * self.kv_block


def _resolved(value: bool | None, default: tuple[bool, str]) -> tuple[bool, str]:
    """The scenario's setting when it has one, else the runtime's default and its reason."""
    return (value, "set in the scenario") if value is not None else default
