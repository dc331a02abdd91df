"""Weight and KV-cache formats: how many bits each element really costs.

Bits include the scales and zero points stored beside the quantised values, and each weight
format says which tensors it leaves at 16 bit. Block layouts are from ggml's
``ggml/src/ggml-common.h`` (bytes per block / weights per block); llama.cpp's per-tensor choice of
type inside a K-quant "mix" follows ``llama_tensor_get_type_impl`` in ``src/llama-quant.cpp``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, NamedTuple

from .model import ModelSpec

# ggml block types: bits per weight = 8 * bytes_per_block / weights_per_block (ggml-common.h)
GGML_BITS: dict[str, float] = {
    "f32": 32.0,
    "f16": 16.0,
    "q8_0": 8 * 34 / 32,  # block_q8_0: fp16 scale + 32 int8
    "q4_0": 8 * 18 / 32,  # block_q4_0: fp16 scale + 16 bytes of nibbles
    "q4_1": 8 * 20 / 32,  # + fp16 min
    "q5_0": 8 * 22 / 32,  # + 4 bytes of high bits
    "q5_1": 8 * 24 / 32,
    "iq4_nl": 8 * 18 / 32,
    "q2_k": 8 * 84 / 256,  # block_q2_K: 16 B scales, 64 B quants, 2 fp16
    "q3_k": 8 * 110 / 256,  # block_q3_K: 32 B hmask, 64 B quants, 12 B scales, fp16
    "q4_k": 8 * 144 / 256,  # block_q4_K: 2 fp16, 12 B scales, 128 B quants
    "q5_k": 8 * 176 / 256,
    "q6_k": 8 * 210 / 256,  # block_q6_K: 128 B ql, 64 B qh, 16 B scales, fp16
    "iq4_xs": 8 * 136 / 256,
    "mxfp4": 8 * 17 / 32,  # block_mxfp4: e8m0 scale + 16 bytes of fp4
}
GGML_BLOCK = {name: (256 if name.endswith("_k") or name == "iq4_xs" else 32) for name in GGML_BITS}
GGML_BLOCK["f32"] = GGML_BLOCK["f16"] = 1


class WeightFormat(NamedTuple):
    id: str
    label: str
    kind: Literal["float", "quant", "gguf", "nominal"]
    linear_bits: float  # per weight of a quantised linear layer, scales included
    other_bits: float  # embeddings, lm_head, norms, biases, router
    source: str
    experts_only: bool = False  # MXFP4 as gpt-oss ships it: only MoE expert weights
    gguf_base: str | None = None  # ggml type of the mix's bulk tensors
    guide_bits: float | None = None  # the guide's nominal bits for this format, if it lists one

    @property
    def is_4bit(self) -> bool:
        return 3.5 <= self.linear_bits < 5 and self.kind != "gguf"


def _f(id_, label, kind, linear, other, source, **kw) -> WeightFormat:
    return WeightFormat(id_, label, kind, linear, other, source, **kw)


WEIGHT_FORMATS: dict[str, WeightFormat] = {
    f.id: f
    for f in [
        _f("fp32", "FP32", "float", 32, 32, "IEEE 754 single precision"),
        _f("fp16", "FP16", "float", 16, 16, "IEEE 754 half precision"),
        _f("bf16", "BF16", "float", 16, 16, "bfloat16"),
        # FP8 checkpoints (llm-compressor / vLLM) quantise linear layers and keep embeddings,
        # lm_head and norms in bf16; one fp32 scale per output channel: +32/in bits (~0.01 b).
        _f("fp8", "FP8 (E4M3)", "quant", 8.0, 16, "vLLM FP8 W8A8 docs; llm-compressor keeps lm_head in bf16"),
        # bitsandbytes LLM.int8(): int8 weights + one fp32 absmax per row (SCB); transformers leaves
        # lm_head unconverted (get_keys_to_not_convert) and Embedding is not a Linear.
        _f("int8", "INT8 (LLM.int8)", "quant", 8.0, 16, "bitsandbytes Linear8bitLt: int8 + fp32 row scale"),
        # the guide's generic "0.5 bytes/param" for every parameter: a floor, not a real format
        _f("int4", "INT4 (nominal 4.0 b)", "nominal", 4.0, 4.0, "the guide: INT4 = 0.5 B/param", guide_bits=4),
        _f("int2", "2-bit (nominal 2.0 b)", "nominal", 2.0, 2.0, "the guide: 2-bit = 0.25 B/param", guide_bits=2),
        # AutoGPTQ / AutoAWQ packing, group 128: 4-bit weights, fp16 scale and a 4-bit zero point
        # packed in int32 per group: 4 + (16 + 4)/128 = 4.156 b. (A 16-bit zero would give the
        # often-quoted 4.25 b; the checkpoints pack zeros in 4 bits.) GPTQ's g_idx adds 32/out b.
        _f("gptq-int4", "GPTQ 4-bit g128", "quant", 4 + 20 / 128, 16, "AutoGPTQ QuantLinear: qweight, qzeros, scales (g128)"),
        _f("awq-int4", "AWQ 4-bit g128", "quant", 4 + 20 / 128, 16, "AutoAWQ WQLinear_GEMM: qweight, qzeros, scales (g128)"),
        # bitsandbytes NF4: block 64 with an fp32 absmax: 4 + 32/64 = 4.5 b; double quant stores the
        # absmax as 8 bit with one fp32 per 256 blocks: 4 + 8/64 + 32/(64*256) = 4.127 b (QLoRA paper §2).
        _f("nf4", "NF4 (bitsandbytes)", "quant", 4 + 32 / 64, 16, "QLoRA paper (Dettmers et al. 2023) §2, blocksize 64"),
        _f("nf4-dq", "NF4 + double quant", "quant", 4 + 8 / 64 + 32 / (64 * 256), 16, "QLoRA paper §2: 0.127 b/param of constants"),
        # OCP MX spec: 32 fp4 values share one e8m0 scale = 4.25 b. gpt-oss ships experts in MXFP4 and
        # everything else in bf16 (gpt-oss model card).
        _f("mxfp4", "MXFP4", "quant", GGML_BITS["mxfp4"], 16, "OCP Microscaling spec v1.0; gpt-oss model card", experts_only=True),
        # llama.cpp GGUF: per-tensor types from llama-quant.cpp; norms and biases stay f32
        _f("q2_k", "GGUF Q2_K", "gguf", GGML_BITS["q2_k"], 32, "llama-quant.cpp", gguf_base="q2_k", guide_bits=2.6),
        _f("q3_k_s", "GGUF Q3_K_S", "gguf", GGML_BITS["q3_k"], 32, "llama-quant.cpp", gguf_base="q3_k", guide_bits=3.4),
        _f("q3_k_m", "GGUF Q3_K_M", "gguf", GGML_BITS["q3_k"], 32, "llama-quant.cpp", gguf_base="q3_k", guide_bits=3.9),
        _f("q3_k_l", "GGUF Q3_K_L", "gguf", GGML_BITS["q3_k"], 32, "llama-quant.cpp", gguf_base="q3_k"),
        _f("q4_0", "GGUF Q4_0", "gguf", GGML_BITS["q4_0"], 32, "ggml-common.h block_q4_0", gguf_base="q4_0", guide_bits=4.5),
        _f("q4_1", "GGUF Q4_1", "gguf", GGML_BITS["q4_1"], 32, "ggml-common.h block_q4_1", gguf_base="q4_1"),
        _f("q4_k_s", "GGUF Q4_K_S", "gguf", GGML_BITS["q4_k"], 32, "llama-quant.cpp", gguf_base="q4_k"),
        _f("q4_k_m", "GGUF Q4_K_M", "gguf", GGML_BITS["q4_k"], 32, "llama-quant.cpp", gguf_base="q4_k", guide_bits=4.8),
        _f("q5_0", "GGUF Q5_0", "gguf", GGML_BITS["q5_0"], 32, "ggml-common.h block_q5_0", gguf_base="q5_0"),
        _f("q5_1", "GGUF Q5_1", "gguf", GGML_BITS["q5_1"], 32, "ggml-common.h block_q5_1", gguf_base="q5_1"),
        _f("q5_k_s", "GGUF Q5_K_S", "gguf", GGML_BITS["q5_k"], 32, "llama-quant.cpp", gguf_base="q5_k"),
        _f("q5_k_m", "GGUF Q5_K_M", "gguf", GGML_BITS["q5_k"], 32, "llama-quant.cpp", gguf_base="q5_k", guide_bits=5.6),
        _f("q6_k", "GGUF Q6_K", "gguf", GGML_BITS["q6_k"], 32, "ggml-common.h block_q6_K", gguf_base="q6_k", guide_bits=6.6),
        _f("q8_0", "GGUF Q8_0", "gguf", GGML_BITS["q8_0"], 32, "ggml-common.h block_q8_0", gguf_base="q8_0", guide_bits=8.5),
        _f("iq4_xs", "GGUF IQ4_XS", "gguf", GGML_BITS["iq4_xs"], 32, "ggml-common.h block_iq4_xs", gguf_base="iq4_xs"),
    ]
}


class KVFormat(NamedTuple):
    id: str
    label: str
    bytes_per_elem: float
    source: str


KV_FORMATS: dict[str, KVFormat] = {
    k.id: k
    for k in [
        KVFormat("fp32", "FP32", 4.0, "IEEE 754"),
        KVFormat("fp16", "FP16", 2.0, "IEEE 754 half"),
        KVFormat("bf16", "BF16", 2.0, "bfloat16"),
        KVFormat("fp8", "FP8", 1.0, "vLLM --kv-cache-dtype fp8 (per-tensor scale)"),
        KVFormat("q8_0", "Q8_0", GGML_BITS["q8_0"] / 8, "llama.cpp --cache-type-k q8_0: 34 B / 32 = 0.53125 x f16"),
        KVFormat("q4_0", "Q4_0", GGML_BITS["q4_0"] / 8, "llama.cpp --cache-type-k q4_0: 18 B / 32 = 0.28125 x f16"),
    ]
}


class FormatError(ValueError):
    pass


def _lookup(table: dict, value: str, what: str):
    key = value.strip().lower().replace("_", "-") if value else value
    for candidate in (key, key.replace("-", "_") if key else key):
        if candidate in table:
            return table[candidate]
    raise FormatError(f"unknown {what} {value!r}; allowed: {', '.join(table)}")


@lru_cache(maxsize=256)  # the estimator resolves the scenario's format on every estimate
def weight_format(value: str) -> WeightFormat:
    """Accepts any case and either separator: ``Q4_K_M``, ``q4-k-m``, ``BF16``."""
    return _lookup(WEIGHT_FORMATS, value, "weight format")


@lru_cache(maxsize=64)
def kv_format(value: str) -> KVFormat:
    return _lookup(KV_FORMATS, value, "KV-cache format")


# --- weight bytes ---------------------------------------------------------------------


def _bits_bytes(n: int, bits: float) -> int:
    return int(-(-n * bits // 8))  # ceil, in whole bytes


@lru_cache(maxsize=1024)
def weight_bytes(model: ModelSpec, fmt: WeightFormat) -> int:
    """Bytes of all the model's weights stored in ``fmt`` (loaded, as a runtime holds them); a real
    checkpoint's own bytes when the model comes with them in this format."""
    if model.stored_bytes is not None and model.stored_format == fmt.id:
        return model.stored_bytes
    if fmt.kind == "gguf":
        return gguf_bytes(model, fmt)
    c = model.counts()
    if fmt.kind in ("float", "nominal"):
        return _bits_bytes(c.total, fmt.linear_bits)
    if fmt.experts_only and model.is_moe:
        quantised = c.experts
    else:
        quantised = c.linear
    rest = c.total - quantised
    return _bits_bytes(quantised, fmt.linear_bits) + _bits_bytes(rest, fmt.other_bits)


# architectures released with MXFP4 experts (gpt-oss): GGUF conversions keep those tensors MXFP4
NATIVE_MXFP4_EXPERTS = ("gpt_oss",)


def gguf_tensor_types(model: ModelSpec, fmt: WeightFormat) -> list[tuple[str, str, int]]:
    """(tensor role, ggml type, elements) for each quantisable weight, per llama-quant.cpp.

    Mirrors llama_tensor_get_type_impl for the K-quant mixes: attn_v and ffn_down get more bits
    on the first and last eighth of the layers and every third layer between (use_more_bits),
    the output matrix (or the tied embedding) is Q6_K, Q3_K mixes bump attn_output, 8-expert
    models bump attn_k/attn_v to Q8_0, and a 70B-class model bumps attn_v to Q5_K.
    """
    ftype, base = fmt.id, fmt.gguf_base
    assert base is not None  # callers pass kind == "gguf" formats, which all name their bulk type
    m, h, layers = model, model.hidden_size, model.num_hidden_layers
    n_expert = max(1, m.num_experts)
    gqa = m.num_attention_heads // m.kv_heads
    is_70b = layers == 80 and h == 8192

    def more_bits(i: int, n: int) -> bool:
        return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2

    def fallback(t: str, ncols: int) -> str:
        if ncols % GGML_BLOCK[t] == 0:
            return t
        alt = {"q2_k": "q4_0", "q3_k": "q4_0", "q4_k": "q5_0", "q5_k": "q5_1", "q6_k": "q8_0", "iq4_xs": "iq4_nl"}.get(t, "f16")
        return alt if ncols % GGML_BLOCK[alt] == 0 else "f16"

    out: list[tuple[str, str, int]] = []
    vocab_rows = m.vocab_size * h
    out_type = "q8_0" if base == "q8_0" else "q6_k"
    if m.tie_word_embeddings:
        out.append(("token_embd", fallback(out_type, h), vocab_rows))
    else:
        out.append(("token_embd", fallback(base, h), vocab_rows))
        out.append(("output", fallback(out_type, h), vocab_rows))

    kv_dim = m.kv_heads * m.head_size
    q_dim = m.q_dim
    for i in range(layers):
        # attention
        if m.is_mla:
            attn_other = m.counts().attention // layers
            out.append(("attn", fallback(base, h), attn_other))
        else:
            v_type = base
            if ftype == "q2_k":
                v_type = "q4_k" if gqa >= 4 else "q3_k"
            elif ftype == "q3_k_m":
                v_type = "q5_k" if i < 2 else "q4_k"
            elif ftype == "q3_k_l":
                v_type = "q5_k"
            elif ftype == "iq4_xs" and gqa >= 4:
                v_type = "q5_k"
            elif ftype in ("q4_k_m", "q5_k_m") and more_bits(i, layers):
                v_type = "q6_k"
            elif ftype == "q4_k_s" and i < 4:
                v_type = "q5_k"
            if is_70b and v_type in ("q3_k", "q4_k"):
                v_type = "q5_k"
            k_type = base
            if n_expert == 8:
                v_type = k_type = "q8_0"
            o_type = base
            if n_expert == 8:
                if ftype in ("q2_k", "q3_k_s", "q3_k_m", "q4_k_s", "q4_k_m"):
                    o_type = "q5_k"
            else:
                o_type = {"q2_k": "q3_k", "q3_k_m": "q4_k", "q3_k_l": "q5_k"}.get(ftype, base)
            out += [
                ("attn_q", fallback(base, h), h * q_dim),
                ("attn_k", fallback(k_type, h), h * kv_dim),
                ("attn_v", fallback(v_type, h), h * kv_dim),
                ("attn_output", fallback(o_type, q_dim), q_dim * h),
            ]
        # feed-forward: dense, or routed + shared experts
        moe = m.is_moe and i >= m.first_dense_layers
        if moe:
            assert m.moe_intermediate_size is not None  # ModelSpec._check: required when num_experts > 0
            inter = m.moe_intermediate_size
            count = m.num_experts
            shared = m.shared_expert_intermediate_size or (inter * m.num_shared_experts if m.num_shared_experts else 0)
        else:
            inter, count, shared = m.intermediate_size, 1, 0
        down = base
        if ftype == "q2_k":
            down = "q3_k"
        elif ftype == "q3_k_m":
            down = "q5_k" if i < layers // 16 else "q4_k"
        elif ftype == "q3_k_l":
            down = "q5_k"
        elif ftype in ("q4_k_m", "q5_k_m") and more_bits(i, layers):
            down = "q6_k"
        elif ftype == "q4_k_s" and i < layers // 8:
            down = "q5_k"
        elif ftype == "iq4_xs" and i < layers // 8:
            down = "q5_k"
        up_mats = 2 if m.mlp_gated else 1
        up = fallback(base, h)
        if moe and m.model_type in NATIVE_MXFP4_EXPERTS:
            # the checkpoint's experts are MXFP4 and stay so in every GGUF of it: a "Q4_K_M" gpt-oss file
            # re-types only the other tensors (the files' own tensor types; validation/points/
            # round2_llamacpp.toml, llamacpp-gpt-oss-20b-q4km/-q5km: CUDA0 model buffers 10,694 / 10,748 MiB)
            up = down = "mxfp4"
        out.append(("ffn_up_gate", up, count * up_mats * h * inter))
        out.append(("ffn_down", down if down == "mxfp4" else fallback(down, inter), count * inter * h))
        if shared:
            out.append(("ffn_up_gate_shexp", fallback(base, h), up_mats * h * shared))
            out.append(("ffn_down_shexp", fallback(down, shared), shared * h))
    return out


def gguf_bytes(model: ModelSpec, fmt: WeightFormat) -> int:
    tensors = gguf_tensor_types(model, fmt)
    quantised = sum(n for _, _, n in tensors)
    total = sum(_bits_bytes(n, GGML_BITS[t]) for _, t, n in tensors)
    c = model.counts()
    # norms, biases, routers, learned positions: not quantised (tensor_allows_quantization);
    # conversion stores 1-D tensors as f32 (convert_hf_to_gguf.py)
    rest = max(0, c.total - c.extra - quantised)
    return total + _bits_bytes(rest, 32) + _bits_bytes(c.extra, 16)


def extra_weight_bytes(model: ModelSpec, fmt: WeightFormat) -> int:
    """Of ``weight_bytes``, the modules outside the language model (vision tower, projector, MTP head): a
    checkpoint's own, else their parameters at 16 bits in a GGUF (convert_hf_to_gguf.py writes a vision
    tower as f16/bf16) and at the width a format keeps its unquantized tensors in otherwise."""
    if model.stored_bytes is not None and model.stored_format == fmt.id:
        return model.stored_extra_bytes
    bits = 16 if fmt.kind == "gguf" else fmt.other_bits if fmt.kind == "quant" else fmt.linear_bits
    return _bits_bytes(model.extra_parameters, bits)


class LayerLayout(NamedTuple):
    """A model's weights as a layer split places them: the input embedding table, each repeating
    layer, and the output layer (lm_head + final norm; llama.cpp's ``-ngl`` counts it as one layer)."""

    token_embd: int
    layers: tuple[int, ...]
    experts: tuple[int, ...]  # of each layer's bytes, the routed experts' (what --n-cpu-moe keeps on the CPU)
    output: int  # a tied model's output layer is a copy of the embedding table
    extra: int = 0  # modules outside the language model (a vision projector): on the first GPU

    @property
    def total(self) -> int:
        return self.token_embd + sum(self.layers) + self.output + self.extra


@lru_cache(maxsize=1024)
def layer_layout(model: ModelSpec, fmt: WeightFormat) -> LayerLayout:
    """Bytes per layer in ``fmt``. GGUF follows llama-quant.cpp tensor by tensor (attn_v and ffn_down
    differ from layer to layer); other formats spread the repeating layers' bytes evenly."""
    L, c = model.num_hidden_layers, model.counts()
    if model.stored_layer_bytes and model.stored_format == fmt.id:  # a GGUF file's own tensor sizes
        embd = model.stored_token_embd_bytes or 0
        return LayerLayout(embd, model.stored_layer_bytes, model.stored_expert_bytes or (0,) * L,
                           model.stored_output_bytes if model.stored_output_bytes is not None else embd,
                           model.stored_extra_bytes)
    norm_bits = 32 if fmt.kind == "gguf" else (fmt.other_bits if fmt.kind == "quant" else fmt.linear_bits)
    final_norm = _bits_bytes(model.hidden_size if model.final_norm else 0, norm_bits)
    moe_layers = set(range(model.first_dense_layers, L)) if model.is_moe else set()
    if fmt.kind == "gguf":
        tensors = gguf_tensor_types(model, fmt)
        per = [0] * L
        experts = [0] * L
        embd = out = 0
        layer = -1
        for role, typ, n in tensors:
            size = _bits_bytes(n, GGML_BITS[typ])
            if role == "token_embd":
                embd = size
            elif role == "output":
                out = size
            else:
                if role in ("attn_q", "attn"):
                    layer += 1  # each layer's tensors start with its query (or MLA's attention block)
                per[layer] += size
                if role in ("ffn_up_gate", "ffn_down") and layer in moe_layers:
                    experts[layer] += size
        extra = extra_weight_bytes(model, fmt)
        rest = weight_bytes(model, fmt) - embd - out - sum(per) - final_norm - extra  # norms, biases, routers (f32)
        if model.tie_word_embeddings:
            out = embd
        return LayerLayout(embd, tuple(p + rest // L for p in per), tuple(experts), out + final_norm, extra)
    total = weight_bytes(model, fmt)
    other_bits = fmt.other_bits if fmt.kind == "quant" else fmt.linear_bits
    embd = _bits_bytes(c.embedding, other_bits)
    out = _bits_bytes(c.lm_head, other_bits) if not model.tie_word_embeddings else embd
    body = total - embd - (0 if model.tie_word_embeddings else out) - final_norm
    per_layer = body // L
    per_expert_layer = _bits_bytes(c.experts // max(1, len(moe_layers)), fmt.linear_bits) if moe_layers else 0
    return LayerLayout(embd, (per_layer,) * L, tuple(per_expert_layer if i in moe_layers else 0 for i in range(L)),
                       out + final_norm)


@lru_cache(maxsize=1024)
def token_embedding_bytes(model: ModelSpec, fmt: WeightFormat) -> int:
    """Bytes of the input embedding table as ``fmt`` stores it (GGUF: the mix's token_embd type)."""
    if model.stored_token_embd_bytes is not None and model.stored_format == fmt.id:
        return model.stored_token_embd_bytes
    if fmt.kind == "gguf":
        return next(_bits_bytes(n, GGML_BITS[t]) for role, t, n in gguf_tensor_types(model, fmt) if role == "token_embd")
    bits = fmt.other_bits if fmt.kind == "quant" else fmt.linear_bits
    return _bits_bytes(model.vocab_size * model.hidden_size, bits)


def effective_bits(model: ModelSpec, fmt: WeightFormat) -> float:
    return 8 * weight_bytes(model, fmt) / max(1, model.total_parameters)
