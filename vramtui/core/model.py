"""A transformer's architecture and the exact parameter counts that follow from it.

Field names follow Hugging Face's ``config.json`` (Llama naming) so a config maps onto a
``ModelSpec`` with few renames. Counting is per tensor, so that a preset's derived count can be
checked against the official one to the parameter, and so the weight estimate can keep the
tensors a quantised format leaves at 16 bit (embeddings, lm_head, norms) apart from the rest.
"""

# Annotations are evaluated at class creation here (no `from __future__ import annotations`): the
# records read their field types with typing.get_type_hints, which compiles each string annotation
# anew, about 1 ms of every command's and the TUI's start-up (docs/performance.md).

from functools import lru_cache
from typing import Any, Literal, NamedTuple

from .record import ConfigDict, Field, Record, field_validator, model_validator

MAX_DIM = 1 << 24  # no released model has a dimension near 16M; larger values are typos


class ModelSpec(Record):
    """Architecture of a decoder-only transformer (dense, GQA/MQA, MoE, MLA, sliding window)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # identity (presets fill these; an inline or imported model may leave them empty)
    id: str = Field(default="custom", pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*$")
    name: str = "Custom model"
    family: str = "custom"
    # config.json's model_type: runtimes whose graphs differ by architecture read it (llama.cpp honours
    # a sliding window only for some architectures)
    model_type: str = Field(default="", max_length=64)
    source: str = ""
    parameters: int | None = Field(default=None, ge=1, description="official parameter count")
    parameters_source: str = ""
    parameters_note: str = Field(default="", description="why the derived count differs, if it does")

    # core dimensions
    vocab_size: int = Field(ge=1, le=MAX_DIM)
    hidden_size: int = Field(ge=1, le=MAX_DIM)
    intermediate_size: int = Field(ge=0, le=MAX_DIM)
    num_hidden_layers: int = Field(ge=1, le=10_000)
    num_attention_heads: int = Field(ge=1, le=MAX_DIM)
    num_key_value_heads: int | None = Field(default=None, ge=1, le=MAX_DIM)
    head_dim: int | None = Field(default=None, ge=1, le=MAX_DIM)
    max_position_embeddings: int = Field(default=4096, ge=1, le=1 << 30)
    tie_word_embeddings: bool = False

    # block structure
    mlp_gated: bool = Field(default=True, description="3 matrices (SwiGLU/GeGLU) vs 2 (GELU MLP)")
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    lm_head_bias: bool = False
    norm_bias: bool = Field(default=False, description="LayerNorm with bias (2 vectors) vs RMSNorm")
    norms_per_layer: int = Field(default=2, ge=0, le=8)
    final_norm: bool = True
    qk_norm: Literal["none", "head", "full"] = Field(
        default="none",
        description="head: one head_dim vector each for q and k (Qwen3, Gemma 3); "
        "full: a vector over all q and all k channels (OLMo 2, Command R+)",
    )
    position_embeddings: int = Field(default=0, ge=0, le=1 << 24, description="rows of a learned position table")
    attention_sinks: bool = Field(default=False, description="one learned logit per head per layer (gpt-oss)")

    # mixture of experts
    num_experts: int = Field(default=0, ge=0, le=65_536)
    num_experts_per_tok: int = Field(default=0, ge=0, le=65_536)
    moe_intermediate_size: int | None = Field(default=None, ge=1, le=MAX_DIM)
    num_shared_experts: int = Field(default=0, ge=0, le=1024)
    shared_expert_intermediate_size: int | None = Field(default=None, ge=1, le=MAX_DIM)
    shared_expert_gate: bool = False
    router_bias: bool = False
    expert_bias: bool = False
    first_dense_layers: int = Field(default=0, ge=0, le=10_000, description="leading layers with a dense MLP")

    # multi-head latent attention (DeepSeek V2/V3)
    q_lora_rank: int | None = Field(default=None, ge=1, le=MAX_DIM)
    kv_lora_rank: int | None = Field(default=None, ge=1, le=MAX_DIM)
    qk_nope_head_dim: int | None = Field(default=None, ge=0, le=MAX_DIM)
    qk_rope_head_dim: int | None = Field(default=None, ge=0, le=MAX_DIM)
    v_head_dim: int | None = Field(default=None, ge=1, le=MAX_DIM)

    # sliding-window attention
    sliding_window: int | None = Field(default=None, ge=1, le=1 << 30)
    sliding_window_layers: int | None = Field(
        default=None, ge=0, le=10_000, description="layers limited to the window (default: all)"
    )

    # hybrid models: layers with a fixed-size recurrent state instead of a KV cache (linear attention such
    # as Gated DeltaNet, or Mamba/SSM blocks); the state's elements per such layer per sequence
    linear_attention_layers: int = Field(default=0, ge=0, le=10_000)
    linear_state_elems: int = Field(default=0, ge=0)

    # a Qwen2-VL-style vision tower (config.json vision_config and preprocessor_config.json), for the
    # encoder pass in vLLM's start-up profile (runtimes/vllm.py, vision_profile_bytes); None: not described
    vision_hidden_size: int | None = Field(default=None, ge=1, le=MAX_DIM)  # vision_config.hidden_size (embed_dim)
    vision_intermediate_size: int | None = Field(default=None, ge=1, le=MAX_DIM)  # vision_config.intermediate_size
    vision_out_hidden_size: int | None = Field(default=None, ge=1, le=MAX_DIM)  # vision_config.out_hidden_size (merger output)
    vision_patch_size: int | None = Field(default=None, ge=1, le=1024)  # vision_config.patch_size (pixels)
    vision_temporal_patch_size: int = Field(default=1, ge=1, le=64)  # vision_config.temporal_patch_size (frames per patch)
    vision_spatial_merge_size: int = Field(default=1, ge=1, le=64)  # vision_config.spatial_merge_size (patches merged per side)
    vision_max_pixels: int | None = Field(default=None, ge=1)  # preprocessor_config.json max_pixels (largest image)

    # parameters outside the decoder stack (vision tower, multi-token-prediction head, ...)
    extra_parameters: int = Field(default=0, ge=0)
    extra_parameters_note: str = ""

    # a real checkpoint's own bytes (safetensors headers or a GGUF file), used instead of the format's
    # rule when the scenario's weights are the format the checkpoint stores
    stored_format: str = Field(default="", max_length=32)
    stored_bytes: int | None = Field(default=None, ge=0)  # every tensor as stored, extra modules included
    stored_extra_bytes: int = Field(default=0, ge=0)  # of which: vision tower, projector, MTP head ...
    stored_token_embd_bytes: int | None = Field(default=None, ge=0)
    stored_output_bytes: int | None = Field(default=None, ge=0)
    stored_layer_bytes: tuple[int, ...] = ()  # GGUF: each repeating layer
    stored_expert_bytes: tuple[int, ...] = ()  # GGUF: of each layer, the routed experts

    @field_validator("stored_layer_bytes", "stored_expert_bytes", mode="before")
    @classmethod
    def _tuple(cls, v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v

    @model_validator(mode="after")
    def _check(self) -> "ModelSpec":
        if self.num_attention_heads % self.kv_heads:
            raise ValueError(
                f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                f"num_key_value_heads ({self.kv_heads})"
            )
        if self.head_dim is None and not self.is_mla and self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) is not divisible by num_attention_heads "
                f"({self.num_attention_heads}); give head_dim explicitly"
            )
        if self.num_experts:
            if not 1 <= self.num_experts_per_tok <= self.num_experts:
                raise ValueError("num_experts_per_tok must be between 1 and num_experts")
            if self.moe_intermediate_size is None:
                raise ValueError("moe_intermediate_size is required when num_experts > 0")
        if self.first_dense_layers > self.num_hidden_layers:
            raise ValueError("first_dense_layers cannot exceed num_hidden_layers")
        if self.is_mla and None in (self.qk_nope_head_dim, self.qk_rope_head_dim, self.v_head_dim):
            raise ValueError("MLA (kv_lora_rank) needs qk_nope_head_dim, qk_rope_head_dim and v_head_dim")
        if self.sliding_window_layers is not None and self.sliding_window_layers > self.num_hidden_layers:
            raise ValueError("sliding_window_layers cannot exceed num_hidden_layers")
        if self.linear_attention_layers > self.num_hidden_layers:
            raise ValueError("linear_attention_layers cannot exceed num_hidden_layers")
        if self.stored_layer_bytes and len(self.stored_layer_bytes) != self.num_hidden_layers:
            raise ValueError("stored_layer_bytes needs one entry per hidden layer")
        return self

    # derived shapes -------------------------------------------------------------------
    @property
    def kv_heads(self) -> int:
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def head_size(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def moe_layers(self) -> int:
        return self.num_hidden_layers - self.first_dense_layers if self.is_moe else 0

    @property
    def q_dim(self) -> int:
        if self.is_mla:
            assert self.qk_nope_head_dim is not None and self.qk_rope_head_dim is not None  # _check: MLA sets both
            return self.num_attention_heads * (self.qk_nope_head_dim + self.qk_rope_head_dim)
        return self.num_attention_heads * self.head_size

    @property
    def mlp_width(self) -> tuple[int, int]:
        """(MLP intermediate width one token passes through, router width): the activated experts'."""
        if not self.is_moe:
            return self.intermediate_size, 0
        moe = self.moe_intermediate_size or 0
        shared = self.shared_expert_intermediate_size or moe * self.num_shared_experts
        return self.num_experts_per_tok * moe + shared, self.num_experts

    @property
    def kv_dim(self) -> int:
        """Width of K (and of V) per token in a layer, as the attention kernel sees it."""
        if self.is_mla:
            assert self.qk_nope_head_dim is not None and self.qk_rope_head_dim is not None  # _check: MLA sets both
            return self.num_attention_heads * (self.qk_nope_head_dim + self.qk_rope_head_dim)
        return self.kv_heads * self.head_size

    @property
    def kv_cache_elems_per_token_layer(self) -> int:
        """Elements cached per token per layer: K and V, or MLA's compressed latent + rope key."""
        if self.is_mla:
            assert self.kv_lora_rank is not None and self.qk_rope_head_dim is not None  # _check: MLA sets both
            return self.kv_lora_rank + self.qk_rope_head_dim
        return 2 * self.kv_heads * self.head_size

    @property
    def windowed_layers(self) -> int:
        if self.sliding_window is None:
            return 0
        return self.num_hidden_layers if self.sliding_window_layers is None else self.sliding_window_layers

    @property
    def features(self) -> list[str]:
        """Short tags a list can show: GQA/MQA, MoE, MLA, SWA."""
        tags = []
        if self.is_mla:
            tags.append("MLA")
        elif self.kv_heads == 1:
            tags.append("MQA")
        elif self.kv_heads < self.num_attention_heads:
            tags.append("GQA")
        if self.is_moe:
            tags.append(f"MoE {self.num_experts_per_tok}/{self.num_experts}")
        if self.windowed_layers:
            tags.append("SWA")
        if self.linear_attention_layers:
            tags.append("hybrid")
        if self.extra_parameters:
            tags.append("+extra")
        return tags

    # counting -------------------------------------------------------------------------
    def counts(self) -> "ParamCounts":
        return count_parameters(self)

    @property
    def total_parameters(self) -> int:
        return self.counts().total

    @property
    def active_parameters(self) -> int:
        return self.counts().active


class ParamCounts(NamedTuple):
    """Parameters grouped by how formats and LoRA treat them."""

    embedding: int  # token (+ learned position) embeddings
    lm_head: int  # 0 when tied
    attention: int  # per model, all layers (matrices + biases)
    mlp_dense: int  # dense MLPs, all layers
    experts: int  # routed experts, all layers
    shared_experts: int
    router: int
    norms: int  # every norm vector, incl. qk-norm and the final norm
    extra: int
    active: int  # parameters touched per token (MoE: routed experts_per_tok only)

    @property
    def total(self) -> int:
        return (
            self.embedding + self.lm_head + self.attention + self.mlp_dense + self.experts
            + self.shared_experts + self.router + self.norms + self.extra
        )

    @property
    def linear(self) -> int:
        """Weights inside the decoder's linear layers: what weight-only quantisation compresses."""
        return self.attention + self.mlp_dense + self.experts + self.shared_experts


def _mlp(hidden: int, inter: int, gated: bool, bias: bool) -> int:
    mats = 3 if gated else 2
    weights = mats * hidden * inter
    biases = ((2 if gated else 1) * inter + hidden) if bias else 0
    return weights + biases


def _attention(m: ModelSpec) -> int:
    h = m.hidden_size
    if m.is_mla:
        heads = m.num_attention_heads
        # _check: MLA (kv_lora_rank set) has all three head dims
        assert m.kv_lora_rank is not None and m.qk_nope_head_dim is not None
        assert m.qk_rope_head_dim is not None and m.v_head_dim is not None
        qk_head = m.qk_nope_head_dim + m.qk_rope_head_dim
        if m.q_lora_rank:
            q = h * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * heads * qk_head  # a, a-norm, b
        else:
            q = h * heads * qk_head
        kv_a = h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank  # + kv_a_layernorm
        kv_b = m.kv_lora_rank * heads * (m.qk_nope_head_dim + m.v_head_dim)
        o = heads * m.v_head_dim * h
        return q + kv_a + kv_b + o
    q_dim = m.num_attention_heads * m.head_size
    kv_dim = m.kv_heads * m.head_size
    params = h * q_dim + 2 * h * kv_dim + q_dim * h
    if m.qkv_bias:
        params += q_dim + 2 * kv_dim
    if m.o_bias:
        params += h
    if m.attention_sinks:
        params += m.num_attention_heads
    return params


@lru_cache(maxsize=512)
def count_parameters(m: ModelSpec) -> ParamCounts:
    h, layers = m.hidden_size, m.num_hidden_layers
    norm_vec = h * (2 if m.norm_bias else 1)

    embedding = m.vocab_size * h + m.position_embeddings * h
    lm_head = 0 if m.tie_word_embeddings else m.vocab_size * h
    if m.lm_head_bias:
        lm_head += m.vocab_size

    attention = layers * _attention(m)

    qk = 0
    if m.qk_norm == "head":
        qk = 2 * m.head_size
    elif m.qk_norm == "full":
        qk = m.q_dim + m.kv_heads * m.head_size
    norms = layers * (m.norms_per_layer * norm_vec + qk) + (norm_vec if m.final_norm else 0)

    dense_layers = layers - m.moe_layers
    mlp_dense = dense_layers * _mlp(h, m.intermediate_size, m.mlp_gated, m.mlp_bias)

    experts = shared = router = 0
    active_experts = 0
    if m.is_moe:
        assert m.moe_intermediate_size is not None  # _check: required when num_experts > 0
        one_expert = _mlp(h, m.moe_intermediate_size, m.mlp_gated, m.expert_bias)
        experts = m.moe_layers * m.num_experts * one_expert
        active_experts = m.moe_layers * m.num_experts_per_tok * one_expert
        shared_inter = m.shared_expert_intermediate_size or (
            m.moe_intermediate_size * m.num_shared_experts if m.num_shared_experts else 0
        )
        if shared_inter:
            shared = m.moe_layers * (_mlp(h, shared_inter, m.mlp_gated, m.mlp_bias) + (h if m.shared_expert_gate else 0))
        router = m.moe_layers * (m.num_experts * h + (m.num_experts if m.router_bias else 0))

    counts = ParamCounts(
        embedding=embedding,
        lm_head=lm_head,
        attention=attention,
        mlp_dense=mlp_dense,
        experts=experts,
        shared_experts=shared,
        router=router,
        norms=norms,
        extra=m.extra_parameters,
        active=0,
    )
    active = counts.total - experts + active_experts - m.extra_parameters
    return counts._replace(active=active)
