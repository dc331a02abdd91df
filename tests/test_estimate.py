"""The precise method: the numbers a user would check by hand against a formula or a runtime log."""

import pytest

from vramtui.core import presets
from vramtui.core.estimate import COMPONENTS
from vramtui.core.formats import effective_bits, weight_bytes, weight_format
from vramtui.core.methods import estimate

from .builders import make

GIB = 1 << 30
MIB = 1 << 20


def test_llama_31_8b_default_kv_is_exactly_one_gib():
    e = estimate(make("llama-3.1-8b", weights="bf16", context_length=8192))
    assert e.parameters == 8_030_261_248
    # 2 (K,V) × 32 layers × 8 KV heads × 128 head_dim × 8192 tokens × 2 bytes
    assert e.components["kv_cache"] == 1_073_741_824
    assert e.components["weights"] == 8_030_261_248 * 2  # bf16 loads at exactly 2 B/param, no ×1.2


def test_components_sum_to_total_and_per_gpu():
    e = estimate(make("llama-3.1-70b", weights="bf16", tensor_parallel=4))
    assert sum(e.per_gpu.values()) == e.per_gpu_bytes
    assert sum(e.components.values()) == e.total_bytes == 4 * e.per_gpu_bytes
    assert set(e.components) == set(COMPONENTS)


def test_gqa_shrinks_kv_against_full_attention():
    # Llama 2 70B uses 8 KV heads for 64 query heads: the guide's 2·L·hidden formula is 8× too big
    e = estimate(make("llama-2-70b", weights="bf16", context_length=4096))
    assert e.components["kv_cache"] == 2 * 80 * 8 * 128 * 4096 * 2


def test_flash_attention_does_not_change_the_kv_cache():
    on = estimate(make("llama-3.1-8b", flash_attention=True, context_length=32768))
    off = estimate(make("llama-3.1-8b", flash_attention=False, context_length=32768))
    assert on.components["kv_cache"] == off.components["kv_cache"]
    # eager attention materialises batch·heads·seq² scores: ~10 B × 32 × 32768² = 320 GiB
    assert off.components["activations"] - on.components["activations"] > 300 * GIB


def test_mla_caches_the_latent_in_vllm_but_full_kv_in_transformers():
    spec = presets.model("deepseek-v2-lite")
    vllm = estimate(make("deepseek-v2-lite", runtime="vllm", context_length=4096))
    per_tok_layer = spec.kv_lora_rank + spec.qk_rope_head_dim  # 512 + 64
    assert vllm.components["kv_cache"] == spec.num_hidden_layers * per_tok_layer * 4096 * 2
    hf = estimate(make("deepseek-v2-lite", runtime="transformers", context_length=4096))
    assert hf.components["kv_cache"] > 5 * vllm.components["kv_cache"]


def test_sliding_window_layers_hold_only_the_window():
    spec = presets.model("gemma-2-9b")
    e = estimate(make("gemma-2-9b", context_length=8192))
    per_tok = 2 * spec.kv_heads * spec.head_size * 2
    full = spec.num_hidden_layers - spec.windowed_layers
    assert e.components["kv_cache"] == per_tok * (full * 8192 + spec.windowed_layers * spec.sliding_window)


def test_llamacpp_pads_kv_to_256_and_vllm_to_16_token_blocks():
    """llama-context.cpp rounds n_ctx up to 256 with or without flash attention; vLLM pages 16 tokens."""
    spec = presets.model("llama-3.1-8b")
    per_tok = 2 * 32 * spec.kv_heads * spec.head_size * 2
    kv = lambda **kw: estimate(make(context_length=1100, **kw)).components["kv_cache"]  # noqa: E731
    assert kv(runtime="llama.cpp", flash_attention=True) == per_tok * 1280
    assert kv(runtime="llama.cpp", flash_attention=False) == per_tok * 1280
    assert kv(runtime="ollama") == per_tok * 1280
    assert kv(runtime="vllm") == per_tok * 1104
    assert kv(runtime="transformers") == per_tok * 1100


def test_llamacpp_q8_kv_is_0_53125_of_f16():
    f16 = estimate(make(runtime="llama.cpp", kv_cache="fp16")).components["kv_cache"]
    q8 = estimate(make(runtime="llama.cpp", kv_cache="q8_0")).components["kv_cache"]
    q4 = estimate(make(runtime="llama.cpp", kv_cache="q4_0")).components["kv_cache"]
    assert q8 == f16 * 0.53125 and q4 == f16 * 0.28125


def test_llamacpp_compute_buffer_matches_the_logged_560_mib():
    # llama.cpp log, Llama 3 8B, n_ctx 8192, n_ubatch 512, flash_attn 0: "CUDA0 compute buffer size = 560.00 MiB"
    e = estimate(make("llama-3-8b", runtime="llama.cpp", weights="q4_k_m", context_length=8192, flash_attention=False))
    assert e.components["activations"] == 560 * MIB
    # with flash attention the logits row dominates: ubatch × (vocab + hidden) × 4 B
    fa = estimate(make("llama-3-8b", runtime="llama.cpp", weights="q4_k_m", context_length=8192))
    assert fa.components["activations"] == 512 * (128256 + 4096) * 4


@pytest.mark.parametrize("fmt, bpw", [
    # llama.cpp tools/quantize README, Llama-3.1-8B: bits per weight of the whole file
    ("q4_k_m", 4.89), ("q4_k_s", 4.67), ("q5_k_m", 5.70), ("q6_k", 6.56), ("q8_0", 8.50), ("q3_k_m", 4.00),
    ("q2_k", 3.16), ("q4_0", 4.64),
])
def test_gguf_mixes_reproduce_llamacpp_file_sizes(fmt, bpw):
    assert effective_bits(presets.model("llama-3.1-8b"), weight_format(fmt)) == pytest.approx(bpw, abs=0.01)


def test_quantised_formats_keep_embeddings_and_lm_head_at_16_bit():
    spec = presets.model("llama-3.1-8b")
    c = spec.counts()
    nf4 = weight_bytes(spec, weight_format("nf4-dq"))
    assert nf4 == pytest.approx(c.linear * 4.127 / 8 + (c.total - c.linear) * 2, rel=1e-4)
    assert nf4 > spec.total_parameters * 0.5  # real 4-bit is above 0.5 B/param


def test_mxfp4_quantises_only_the_experts_of_gpt_oss():
    spec = presets.model("gpt-oss-120b")
    b = weight_bytes(spec, weight_format("mxfp4"))
    c = spec.counts()
    assert b == pytest.approx(c.experts * 4.25 / 8 + (c.total - c.experts) * 2, rel=1e-6)
    assert 60 * GIB < b < 66 * GIB  # the 120B checkpoint fits one 80 GB card


def test_moe_keeps_every_expert_resident():
    e = estimate(make("mixtral-8x7b", weights="bf16"))
    assert e.components["weights"] == 46_702_792_704 * 2


def test_tensor_parallel_splits_weights_and_kv():
    one = estimate(make("llama-3.1-70b"))
    four = estimate(make("llama-3.1-70b", tensor_parallel=4))
    assert four.per_gpu["weights"] == -(-one.per_gpu["weights"] // 4)
    assert four.per_gpu["kv_cache"] == one.per_gpu["kv_cache"] // 4
    # 8 KV heads cannot be split 16 ways: heads are replicated past 8 ranks
    sixteen = estimate(make("llama-3.1-70b", tensor_parallel=16))
    assert sixteen.per_gpu["kv_cache"] == one.per_gpu["kv_cache"] // 8


def test_full_training_recipes_bytes_per_parameter():
    p = presets.model("llama-3.2-1b").total_parameters
    short = dict(mode="full", optimizer="adamw", context_length=16)  # tiny activations: the optimizer step is the peak
    mixed = estimate(make("llama-3.2-1b", recipe="bf16-mixed", **short))
    # ZeRO paper: 2 (bf16 params) + 2 (grads) + 12 (fp32 master + Adam) = 16 B/param, + foreach temporary 4 B
    assert mixed.per_gpu["weights"] == 2 * p
    assert mixed.per_gpu["gradients"] == 2 * p
    assert mixed.per_gpu["optimizer_states"] == pytest.approx((8 + 4 + 4) * p, rel=1e-9)
    assert mixed.per_gpu["activations"] == 0 and any("peak at the optimizer step" in n for n in mixed.notes)
    pure = estimate(make("llama-3.2-1b", recipe="bf16-pure", **short))
    assert pure.per_gpu["optimizer_states"] == pytest.approx((4 + 2) * p, rel=1e-9)
    # plain SGD keeps no state: only bf16-mixed's fp32 master copy remains
    assert estimate(make("llama-3.2-1b", recipe="bf16-pure", mode="full", optimizer="sgd", context_length=16)).per_gpu["optimizer_states"] == 0
    assert estimate(make("llama-3.2-1b", mode="full", optimizer="sgd", context_length=16)).per_gpu["optimizer_states"] == 4 * p


def test_training_peak_is_the_larger_of_backward_start_and_optimizer_step():
    spec = presets.model("llama-3.2-3b")
    e = estimate(make("llama-3.2-3b", mode="full", recipe="bf16-pure", batch_size=4, context_length=768))
    # long sequences: the start of backward is the peak; only lm_head's gradient exists yet
    assert e.per_gpu["activations"] > 10 * GIB
    assert e.per_gpu["gradients"] == (spec.counts().lm_head or spec.counts().embedding) * 2
    assert e.per_gpu["optimizer_states"] == spec.total_parameters * 4  # bf16 moments, no step temporary
    assert any("peak at the start of backward" in n for n in e.notes)
    # the sum of both phases would overstate the peak by the full gradients + temporary
    grads_and_temp = spec.total_parameters * (2 + 2)
    assert e.per_gpu_bytes < e.per_gpu["weights"] + e.per_gpu["activations"] + e.per_gpu["optimizer_states"] + grads_and_temp


def test_training_has_no_kv_cache_and_checkpointing_cuts_activations():
    full = estimate(make("llama-3.1-8b", mode="full", batch_size=4, context_length=2048))
    assert full.components["kv_cache"] == 0
    ckpt = estimate(make("llama-3.1-8b", mode="full", batch_size=4, context_length=2048, gradient_checkpointing=True))
    assert ckpt.components["activations"] < full.components["activations"] / 2


def test_zero_stages_shard_states_then_grads_then_weights():
    base = dict(mode="full", data_parallel=8, context_length=16)  # the optimizer step is the peak
    e = [estimate(make("llama-3.1-8b", zero_stage=z, **base)).per_gpu for z in range(4)]
    assert e[1]["optimizer_states"] < e[0]["optimizer_states"] and e[1]["gradients"] == e[0]["gradients"]
    assert e[2]["gradients"] < e[1]["gradients"]
    assert e[3]["weights"] < e[2]["weights"]


def test_lora_adapters_count_rank_times_in_plus_out():
    spec = presets.model("llama-3.1-8b")
    e = estimate(make("llama-3.1-8b", mode="lora", lora_rank=16, lora_targets=("q_proj", "v_proj")))
    per_layer = 16 * (4096 + 4096) + 16 * (4096 + 1024)
    assert e.trainable_parameters == spec.num_hidden_layers * per_layer == 6_815_744  # peft prints 6,815,744
    assert e.per_gpu["adapters"] == e.trainable_parameters * 4
    assert e.per_gpu["weights"] == weight_bytes(spec, weight_format("bf16"))


def test_qlora_uses_a_4_bit_base():
    lora = estimate(make("llama-3.1-8b", mode="lora"))
    qlora = estimate(make("llama-3.1-8b", mode="qlora", weights="nf4-dq", kbit_upcast=False))
    assert qlora.per_gpu["weights"] < lora.per_gpu["weights"] / 2.5  # fp32 embeddings aside (test_training_knobs)
    assert qlora.per_gpu["optimizer_states"] > 0


def test_qlora_rejects_a_16_bit_base():
    with pytest.raises(ValueError, match="4-bit base"):
        make("llama-3.1-8b", mode="qlora", weights="bf16")


def test_loss_setting_changes_only_the_logits_term():
    base = dict(mode="full", batch_size=4, context_length=2048, recipe="bf16-pure")
    tokens, vocab = 4 * 2048, 128256
    acts = {loss: estimate(make("llama-3.1-8b", loss=loss, **base)).components["activations"]
            for loss in ("fp32-logits", "bf16-logits", "chunked")}
    # fp32: 3 x 4 B per logit (transformers' upcast loss); bf16: the same three tensors in bf16
    assert acts["fp32-logits"] - acts["bf16-logits"] == tokens * vocab * (12 - 6)
    # fused cross-entropy keeps one chunk of next_pow2(ceil(T / ceil(V / H))) tokens: 256 here
    chunk = 256
    assert acts["fp32-logits"] - acts["chunked"] == tokens * vocab * 12 - chunk * vocab * 8
    assert acts["chunked"] < acts["bf16-logits"] < acts["fp32-logits"]
