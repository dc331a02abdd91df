"""GGUF files for tests, written as llama.cpp's converter lays them out but SPARSE: the header (metadata
and tensor infos with real shapes and ggml types) is written, the data section only reserved with
truncate, so a file of many GB costs a few MB of disk and no time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter, LlamaFileType

from vramtui.core.formats import gguf_tensor_types, weight_format
from vramtui.core.model import ModelSpec

Q = GGMLQuantizationType
F32 = Q.F32
ALIGN = 32


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]  # numpy order: rows first, the row length (ggml ne[0]) last
    type: GGMLQuantizationType

    @property
    def nbytes(self) -> int:
        block, size = GGML_QUANT_SIZES[self.type]
        return int(np.prod(self.shape)) // block * size


@dataclass
class Written:
    path: Path
    data_offset: int  # where the data section starts (the header padded to the alignment)
    tensors: list[Tensor] = field(default_factory=list)

    @property
    def tensor_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    def nbytes(self, pattern: Callable[[str], bool]) -> int:
        return sum(t.nbytes for t in self.tensors if pattern(t.name))


def pad(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def write_gguf(path: Path, arch: str, kv: dict[str, Any], tensors: Sequence[Tensor]) -> Written:
    """Header, metadata and tensor infos through GGUFWriter; the data section as a hole of its full size."""
    w = GGUFWriter(path, arch)
    for key, value in kv.items():
        if isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, int):
            w.add_uint32(key, value)
        elif isinstance(value, float):
            w.add_float32(key, value)
        elif isinstance(value, str):
            w.add_string(key, value)
        else:
            w.add_array(key, value)
    for t in tensors:
        w.add_tensor_info(t.name, t.shape, np.dtype(np.float32), t.nbytes, raw_dtype=t.type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    data_offset = pad(path.stat().st_size)
    with path.open("r+b") as fh:  # every tensor padded to the alignment, as GGUFWriter/llama.cpp write them
        fh.truncate(data_offset + sum(pad(t.nbytes) for t in tensors))
    return Written(path, data_offset, list(tensors))


# --- a model's tensors, named as convert_hf_to_gguf.py names them -------------------------------------

_GGML = {"f32": Q.F32, "f16": Q.F16, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "q4_1": Q.Q4_1, "q5_0": Q.Q5_0, "q5_1": Q.Q5_1,
         "q2_k": Q.Q2_K, "q3_k": Q.Q3_K, "q4_k": Q.Q4_K, "q5_k": Q.Q5_K, "q6_k": Q.Q6_K, "iq4_xs": Q.IQ4_XS,
         "iq4_nl": Q.IQ4_NL, "mxfp4": Q.MXFP4}


def mix_types(m: ModelSpec, fmt: str) -> Callable[[str, int], GGMLQuantizationType]:
    """(role, layer) -> ggml type of llama-quant.cpp's mix, from formats.gguf_tensor_types."""
    table: dict[tuple[str, int], GGMLQuantizationType] = {}
    layer = -1
    for role, typ, _ in gguf_tensor_types(m, weight_format(fmt)):
        if role in ("attn_q", "attn"):
            layer += 1
        table[(role, layer)] = _GGML[typ]

    def pick(role: str, layer: int) -> GGMLQuantizationType:
        key = {"ffn_gate": "ffn_up_gate", "ffn_up": "ffn_up_gate", "ffn_gate_exps": "ffn_up_gate",
               "ffn_up_exps": "ffn_up_gate", "ffn_down_exps": "ffn_down", "ffn_gate_shexp": "ffn_up_gate_shexp",
               "ffn_up_shexp": "ffn_up_gate_shexp", "attn_qkv": "attn_q"}.get(role, role)
        return table[(key, -1 if role in ("token_embd", "output") else layer)]

    return pick


def model_tensors(m: ModelSpec, arch: str, types: Callable[[str, int], GGMLQuantizationType],
                  rope_freqs: bool = False) -> list[Tensor]:
    h, L = m.hidden_size, m.num_hidden_layers
    out = [Tensor("token_embd.weight", (m.vocab_size, h), types("token_embd", -1))]
    if rope_freqs:
        out.append(Tensor("rope_freqs.weight", (m.head_size // 2,), F32))
    for i in range(L):
        b = f"blk.{i}."

        def add(role: str, shape: tuple[int, ...], typ: GGMLQuantizationType | None = None) -> None:
            out.append(Tensor(b + role, shape, typ if typ is not None else types(role.split(".")[0], i)))  # noqa: B023

        if arch != "olmo2":  # OLMo 2 normalises after attention and MLP only
            add("attn_norm.weight", (h,), F32)
        if m.is_mla:
            assert m.kv_lora_rank and m.qk_rope_head_dim is not None and m.qk_nope_head_dim is not None and m.v_head_dim
            qk_head = m.qk_nope_head_dim + m.qk_rope_head_dim
            if m.q_lora_rank:
                add("attn_q_a.weight", (m.q_lora_rank, h), types("attn", i))
                add("attn_q_a_norm.weight", (m.q_lora_rank,), F32)
                add("attn_q_b.weight", (m.num_attention_heads * qk_head, m.q_lora_rank), types("attn", i))
            else:
                add("attn_q.weight", (m.num_attention_heads * qk_head, h), types("attn", i))
            add("attn_kv_a_mqa.weight", (m.kv_lora_rank + m.qk_rope_head_dim, h), types("attn", i))
            add("attn_kv_a_norm.weight", (m.kv_lora_rank,), F32)
            # llama.cpp's MLA conversion: kv_b split into per-head k_b and v_b (same elements)
            add("attn_k_b.weight", (m.num_attention_heads, m.kv_lora_rank, m.qk_nope_head_dim), types("attn", i))
            add("attn_v_b.weight", (m.num_attention_heads, m.v_head_dim, m.kv_lora_rank), types("attn", i))
            add("attn_output.weight", (h, m.num_attention_heads * m.v_head_dim), types("attn", i))
        else:
            q, kv = m.q_dim, m.kv_heads * m.head_size
            if arch == "phi3":
                add("attn_qkv.weight", (q + 2 * kv, h))
            else:
                add("attn_q.weight", (q, h))
                add("attn_k.weight", (kv, h))
                add("attn_v.weight", (kv, h))
            add("attn_output.weight", (h, q))
            if m.qkv_bias:
                add("attn_q.bias", (q,), F32)
                add("attn_k.bias", (kv,), F32)
                add("attn_v.bias", (kv,), F32)
            if m.o_bias:
                add("attn_output.bias", (h,), F32)
            if m.qk_norm == "head":
                add("attn_q_norm.weight", (m.head_size,), F32)
                add("attn_k_norm.weight", (m.head_size,), F32)
            elif m.qk_norm == "full":  # Command R+: one row per head; OLMo 2: one vector
                add("attn_q_norm.weight", (m.num_attention_heads, m.head_size) if arch == "command-r" else (q,), F32)
                add("attn_k_norm.weight", (m.kv_heads, m.head_size) if arch == "command-r" else (kv,), F32)
            if m.attention_sinks:
                add("attn_sinks.weight", (m.num_attention_heads,), F32)
        if m.norms_per_layer == 4:
            add("post_attention_norm.weight", (h,), F32)
            add("ffn_norm.weight", (h,), F32)
            add("post_ffw_norm.weight", (h,), F32)
        elif arch == "gpt-oss":
            add("post_attention_norm.weight", (h,), F32)
        elif arch == "olmo2":
            add("post_attention_norm.weight", (h,), F32)
            add("post_ffw_norm.weight", (h,), F32)
        elif m.norms_per_layer == 2:
            add("ffn_norm.weight", (h,), F32)
        if m.is_moe and i >= m.first_dense_layers:
            e, f = m.num_experts, m.moe_intermediate_size
            assert f is not None
            add("ffn_gate_inp.weight", (e, h), F32)
            if m.router_bias:
                add("ffn_gate_inp.bias", (e,), F32)
            add("ffn_gate_exps.weight", (e, f, h))
            add("ffn_up_exps.weight", (e, f, h))
            add("ffn_down_exps.weight", (e, h, f))
            if m.expert_bias:
                add("ffn_gate_exps.bias", (e, f), F32)
                add("ffn_up_exps.bias", (e, f), F32)
                add("ffn_down_exps.bias", (e, h), F32)
            shared = m.shared_expert_intermediate_size or f * m.num_shared_experts
            if shared:
                add("ffn_gate_shexp.weight", (shared, h))
                add("ffn_up_shexp.weight", (shared, h))
                add("ffn_down_shexp.weight", (h, shared))
            if m.shared_expert_gate:
                add("ffn_gate_inp_shexp.weight", (h,), F32)
        elif arch == "phi3":
            add("ffn_up.weight", (2 * m.intermediate_size, h))
            add("ffn_down.weight", (h, m.intermediate_size))
        else:
            add("ffn_gate.weight", (m.intermediate_size, h))
            add("ffn_up.weight", (m.intermediate_size, h))
            add("ffn_down.weight", (h, m.intermediate_size))
    out.append(Tensor("output_norm.weight", (h,), F32))
    if not m.tie_word_embeddings:
        out.append(Tensor("output.weight", (m.vocab_size, h), types("output", -1)))
    return out


def model_kv(m: ModelSpec, arch: str, file_type: LlamaFileType, *, tokens: bool = False,
             swa_pattern: int | None = None) -> dict[str, Any]:
    kv: dict[str, Any] = {"general.name": m.name, "general.file_type": int(file_type)}
    a = arch
    kv.update({
        f"{a}.block_count": m.num_hidden_layers, f"{a}.context_length": m.max_position_embeddings,
        f"{a}.embedding_length": m.hidden_size, f"{a}.feed_forward_length": m.intermediate_size,
        f"{a}.attention.head_count": m.num_attention_heads, f"{a}.attention.head_count_kv": m.kv_heads,
        f"{a}.rope.freq_base": 500000.0, f"{a}.attention.layer_norm_rms_epsilon": 1e-5,
    })
    if m.is_mla:
        assert m.qk_rope_head_dim is not None and m.qk_nope_head_dim is not None and m.kv_lora_rank and m.v_head_dim
        kv.update({f"{a}.attention.head_count_kv": 1, f"{a}.attention.kv_lora_rank": m.kv_lora_rank,
                   f"{a}.attention.key_length": m.kv_lora_rank + m.qk_rope_head_dim,
                   f"{a}.attention.value_length": m.kv_lora_rank,
                   f"{a}.attention.key_length_mla": m.qk_nope_head_dim + m.qk_rope_head_dim,
                   f"{a}.attention.value_length_mla": m.v_head_dim, f"{a}.rope.dimension_count": m.qk_rope_head_dim})
        if m.q_lora_rank:
            kv[f"{a}.attention.q_lora_rank"] = m.q_lora_rank
    else:
        kv.update({f"{a}.attention.key_length": m.head_size, f"{a}.attention.value_length": m.head_size,
                   f"{a}.rope.dimension_count": m.head_size})
    if m.is_moe:
        kv.update({f"{a}.expert_count": m.num_experts, f"{a}.expert_used_count": m.num_experts_per_tok})
        if arch != "llama":
            kv[f"{a}.expert_feed_forward_length"] = m.moe_intermediate_size
        if m.num_shared_experts:
            kv[f"{a}.expert_shared_count"] = m.num_shared_experts
        if m.shared_expert_intermediate_size:
            kv[f"{a}.expert_shared_feed_forward_length"] = m.shared_expert_intermediate_size
        if m.first_dense_layers:
            kv[f"{a}.leading_dense_block_count"] = m.first_dense_layers
    if m.sliding_window:
        kv[f"{a}.attention.sliding_window"] = m.sliding_window
    if swa_pattern is not None:
        kv[f"{a}.attention.sliding_window_pattern"] = swa_pattern
    if tokens:
        kv["tokenizer.ggml.model"] = "gpt2"
        kv["tokenizer.ggml.tokens"] = [f"t{i}" for i in range(m.vocab_size)]
    else:
        kv[f"{a}.vocab_size"] = m.vocab_size
    return kv


def write_model(path: Path, m: ModelSpec, arch: str, fmt: str = "q8_0", *, tokens: bool = False,
                rope_freqs: bool = False, file_type: LlamaFileType | None = None) -> Written:
    """``m`` as a GGUF of ``arch``: tensor types from llama-quant.cpp's ``fmt`` mix (norms and biases F32)."""
    ftypes = {"q8_0": LlamaFileType.MOSTLY_Q8_0, "q4_k_m": LlamaFileType.MOSTLY_Q4_K_M,
              "q6_k": LlamaFileType.MOSTLY_Q6_K, "mxfp4": LlamaFileType.MOSTLY_MXFP4_MOE}
    types: Callable[[str, int], GGMLQuantizationType] = mix_types(m, "q8_0" if fmt == "mxfp4" else fmt)
    if fmt == "mxfp4":  # gpt-oss as ggml-org ships it: experts MXFP4, the rest Q8_0
        base = types

        def types(role: str, layer: int) -> GGMLQuantizationType:
            return Q.MXFP4 if role.endswith("_exps") else base(role, layer)
    kv = model_kv(m, arch, file_type if file_type is not None else ftypes[fmt], tokens=tokens)
    return write_gguf(path, arch, kv, model_tensors(m, arch, types, rope_freqs=rope_freqs))
