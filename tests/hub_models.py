"""Tensor lists of real checkpoints, built from their published config.json values and transformers'
tensor names: a bf16 model (Qwen3-0.6B), an FP8 one (Qwen3-8B-FP8, 128×128 block scales), a GPTQ
one (Qwen2.5-0.5B-Instruct-GPTQ-Int4, group 128) and a multimodal one (Gemma 3 4B: SigLIP vision tower
and projector beside the language model)."""

from __future__ import annotations

from vramtui.core import presets

Tensors = list[tuple[str, str, tuple[int, ...]]]


def _config(preset: str, model_type: str, **extra) -> dict:
    m = presets.model(preset)
    return {"model_type": model_type, "vocab_size": m.vocab_size, "hidden_size": m.hidden_size,
            "intermediate_size": m.intermediate_size, "num_hidden_layers": m.num_hidden_layers,
            "num_attention_heads": m.num_attention_heads, "num_key_value_heads": m.kv_heads,
            "head_dim": m.head_size, "max_position_embeddings": m.max_position_embeddings,
            "tie_word_embeddings": m.tie_word_embeddings, "torch_dtype": "bfloat16", **extra}


def _llama_like(preset: str, prefix: str = "model.", linear=None, dtype: str = "BF16", qk_norm: bool = False,
                qkv_bias: bool = False) -> Tensors:
    m = presets.model(preset)
    h, kv, q, inter = m.hidden_size, m.kv_heads * m.head_size, m.q_dim, m.intermediate_size
    linear = linear or (lambda name, out, inp: [(name + ".weight", dtype, (out, inp))])
    out: Tensors = [(f"{prefix}embed_tokens.weight", dtype, (m.vocab_size, h)), (f"{prefix}norm.weight", dtype, (h,))]
    for i in range(m.num_hidden_layers):
        p = f"{prefix}layers.{i}."
        for name, o, n in (("self_attn.q_proj", q, h), ("self_attn.k_proj", kv, h), ("self_attn.v_proj", kv, h),
                           ("self_attn.o_proj", h, q), ("mlp.gate_proj", inter, h), ("mlp.up_proj", inter, h),
                           ("mlp.down_proj", h, inter)):
            out += linear(p + name, o, n)
            if qkv_bias and name.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
                out.append((p + name + ".bias", "F16" if dtype == "F16" else dtype, (o,)))
        out += [(p + "input_layernorm.weight", dtype, (h,)), (p + "post_attention_layernorm.weight", dtype, (h,))]
        if qk_norm:
            out += [(p + "self_attn.q_norm.weight", dtype, (m.head_size,)), (p + "self_attn.k_norm.weight", dtype, (m.head_size,))]
    if not m.tie_word_embeddings:
        out.append(("lm_head.weight", dtype, (m.vocab_size, h)))
    return out


def qwen3_bf16() -> tuple[dict, Tensors]:
    return _config("qwen3-0.6b", "qwen3"), _llama_like("qwen3-0.6b", qk_norm=True)


def qwen3_fp8() -> tuple[dict, Tensors]:
    def fp8(name, out, inp):
        return [(name + ".weight", "F8_E4M3", (out, inp)), (name + ".weight_scale_inv", "F32", (-(-out // 128), -(-inp // 128)))]

    cfg = _config("qwen3-8b", "qwen3", quantization_config={"quant_method": "fp8", "fmt": "e4m3",
                                                             "weight_block_size": [128, 128], "activation_scheme": "dynamic"})
    return cfg, _llama_like("qwen3-8b", linear=fp8, qk_norm=True)


def qwen25_gptq() -> tuple[dict, Tensors]:
    def gptq(name, out, inp):
        return [(name + ".qweight", "I32", (inp // 8, out)), (name + ".qzeros", "I32", (inp // 128, out // 8)),
                (name + ".scales", "F16", (inp // 128, out)), (name + ".g_idx", "I32", (inp,))]

    cfg = _config("qwen2.5-0.5b", "qwen2", torch_dtype="float16",
                  quantization_config={"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False})
    return cfg, _llama_like("qwen2.5-0.5b", linear=gptq, dtype="F16", qkv_bias=True)


def gemma3_multimodal() -> tuple[dict, Tensors, int]:
    """(config, tensors, vision parameters): SigLIP-so400m/14 at 896 px (27 layers, 1152 wide, MLP 4304,
    4096 patches) and the projector, as google/gemma-3-4b-it's config.json and checkpoint name them."""
    m = presets.model("gemma-3-4b")
    text = {"model_type": "gemma3_text", "vocab_size": m.vocab_size, "hidden_size": m.hidden_size,
            "intermediate_size": m.intermediate_size, "num_hidden_layers": m.num_hidden_layers,
            "num_attention_heads": m.num_attention_heads, "num_key_value_heads": m.kv_heads, "head_dim": m.head_size,
            "max_position_embeddings": m.max_position_embeddings, "sliding_window": m.sliding_window,
            "sliding_window_pattern": 6, "tie_word_embeddings": True}
    cfg = {"model_type": "gemma3", "text_config": text,
           "vision_config": {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27,
                             "image_size": 896, "patch_size": 14}, "torch_dtype": "bfloat16"}
    h, q, kv, inter = m.hidden_size, m.q_dim, m.kv_heads * m.head_size, m.intermediate_size
    t: Tensors = [("language_model.model.embed_tokens.weight", "BF16", (m.vocab_size, h)),
                  ("language_model.model.norm.weight", "BF16", (h,))]
    for i in range(m.num_hidden_layers):
        p = f"language_model.model.layers.{i}."
        t += [(p + "self_attn.q_proj.weight", "BF16", (q, h)), (p + "self_attn.k_proj.weight", "BF16", (kv, h)),
              (p + "self_attn.v_proj.weight", "BF16", (kv, h)), (p + "self_attn.o_proj.weight", "BF16", (h, q)),
              (p + "self_attn.q_norm.weight", "BF16", (m.head_size,)), (p + "self_attn.k_norm.weight", "BF16", (m.head_size,)),
              (p + "mlp.gate_proj.weight", "BF16", (inter, h)), (p + "mlp.up_proj.weight", "BF16", (inter, h)),
              (p + "mlp.down_proj.weight", "BF16", (h, inter))]
        t += [(p + n, "BF16", (h,)) for n in ("input_layernorm.weight", "post_attention_layernorm.weight",
                                               "pre_feedforward_layernorm.weight", "post_feedforward_layernorm.weight")]
    vh, vi, vl = 1152, 4304, 27
    vision: Tensors = [("vision_tower.vision_model.embeddings.patch_embedding.weight", "BF16", (vh, 3, 14, 14)),
                       ("vision_tower.vision_model.embeddings.patch_embedding.bias", "BF16", (vh,)),
                       ("vision_tower.vision_model.embeddings.position_embedding.weight", "BF16", (4096, vh)),
                       ("vision_tower.vision_model.post_layernorm.weight", "BF16", (vh,)),
                       ("vision_tower.vision_model.post_layernorm.bias", "BF16", (vh,)),
                       ("multi_modal_projector.mm_input_projection_weight", "BF16", (vh, h)),
                       ("multi_modal_projector.mm_soft_emb_norm.weight", "BF16", (vh,))]
    for i in range(vl):
        p = f"vision_tower.vision_model.encoder.layers.{i}."
        for n in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj"):
            vision += [(p + n + ".weight", "BF16", (vh, vh)), (p + n + ".bias", "BF16", (vh,))]
        vision += [(p + "mlp.fc1.weight", "BF16", (vi, vh)), (p + "mlp.fc1.bias", "BF16", (vi,)),
                   (p + "mlp.fc2.weight", "BF16", (vh, vi)), (p + "mlp.fc2.bias", "BF16", (vh,))]
        vision += [(p + n, "BF16", (vh,)) for n in ("layer_norm1.weight", "layer_norm1.bias", "layer_norm2.weight",
                                                     "layer_norm2.bias")]
    import math

    return cfg, t + vision, sum(math.prod(s) for _, _, s in vision)
