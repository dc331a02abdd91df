"""Every number the precise method uses that is not derived from the architecture, with its source.

Where a value is a calibration rather than a specification it says so, and names what it was
fitted to; ``docs/method.md`` repeats the table.
"""

from .units import GiB, MiB  # noqa: F401  (re-exported for the estimator)

# --- runtimes ------------------------------------------------------------------------
# Each runtime's CUDA context, allocator slack, KV block and defaults live in its own module
# (core/runtimes/); these are the numbers more than one runtime shares.
NCCL_MIB = 256  # NCCL communicator buffers when more than one GPU takes part (NCCL_BUFFSIZE 4 MiB × channels)

# llama.cpp rounds the context (the KV cache's cells) up to a multiple of 256
# (src/llama-context.cpp @ 4df29be4: "cparams.n_ctx = GGML_PAD(cparams.n_ctx, 256)"); ollama runs the
# same engine. Builds before 2025 padded to 256 with flash attention and to 32 without.
LLAMACPP_CTX_PAD = 256

# --- activations -------------------------------------------------------------------------
LLAMACPP_UBATCH = 512  # llama.cpp default n_ubatch (common/common.h)
# Without flash attention the compute buffer holds, next to the f32 KQ matrix (ubatch × n_ctx × heads),
# the f32 KQ mask (ubatch × n_ctx) and ~4 hidden-sized f32 rows per ubatch token. Fitted to llama.cpp
# logs (validation/points/llamacpp.toml): Llama 3 8B, n_ctx 8192: 512 + 16 + 32 = 560.00 MiB, and
# OpenLLaMA 7B (ggml-org/ci), n_ctx 2048: 128 + 4 + 32 = 164 MiB.
LLAMACPP_NOFA_HIDDEN = 4
# vLLM: the profiled activation peak is the sampler's, not the forward pass's: it does not shrink with tensor
# parallelism and scales with the vocabulary. Calibrated on the llm-d-planner vLLM 0.19.0 sweep (H100,
# validation/points/vllm_hf.toml): Llama-3.1-8B 1.89 GiB and Qwen2.5-7B 2.21 GiB at TP 1, 2 and 4
# = 1024 sequences × vocab × 15.45 / 15.24 B; ~4 fp32 copies of the logits (logits, probabilities,
# log-probabilities, a sort buffer) less in-place reuse.
VLLM_SAMPLER_BYTES_PER_LOGIT = 15.35
# Eager (non-flash) attention, in bytes per attention score (batch x heads x seq^2), from
# scripts/trace_memory.py (validation/traces/cpu-trace.json, "eager_score_bytes"; tests/test_traces.py):
# without gradients (inference) one layer's scores, their softmax in fp32 and its bf16 cast coexist at the
# layer's peak: 10.5 B;
EAGER_SCORE_BYTES = 10.5
# in training each layer keeps the fp32 softmax output and its bf16 cast for backward: 6 B ("saved");
EAGER_SAVED_SCORE_BYTES = 6
# and the layer being computed or differentiated holds those and ~1 B more at the step's peak (6.9 B).
EAGER_TRAIN_SCORE_BYTES = 7
# Tensor parallelism in training splits a layer's saved activations over the t GPUs except the layer
# norms' inputs, the attention and MLP blocks' inputs and the dropout masks, which every GPU keeps
# whole: 10 B per token per layer in 16 bit (Korthikanti et al. 2022, "Reducing Activation Recomputation
# in Large Transformer Models", Table 2: "tensor parallel (baseline)" sbh(10 + 24/t + 5as/(ht)) against
# "no parallelism" sbh(34 + 5as/h)). Sequence parallelism splits those too ("tensor + sequence
# parallel" sbh(34/t + 5as/(ht))), and full recomputation then splits the stored layer inputs (sbh(2))
# as well (the paper's §5: "2sbhL/t").
TP_REPLICATED_ACT_BYTES = 10
# Loss: how many bytes per logit (token × vocabulary entry) the cross-entropy holds at its peak.
# fp32-logits: transformers' own loss (labels passed to the model) upcasts the logits: the fp32 logits,
#   the log-probabilities and their gradient, 3 × 4 B. scripts/trace_memory.py on transformers 5.24
#   measures 14 B per logit at the peak ("loss_bytes_per_logit_with_one_layer", 14.4 with one layer's
#   per-token bytes): that version also keeps the bf16 logits referenced by the model's output while
#   the loss upcasts them. The published PEFT runs (transformers 4.5x, validation/points/training.toml)
#   are already 4-7 % over with 12 B, so 12 stays until a GPU run of that version says otherwise.
# bf16-logits: a loss computed outside the model on the bf16 logits (nn.CrossEntropyLoss(logits, ...)):
#   the same three tensors in bf16, 3 × 2 B.
# chunked: a fused linear + cross-entropy (Liger-Kernel's LigerFusedLinearCrossEntropy, Unsloth's) never
#   materialises the logits; it keeps one chunk of fp32 logits and their gradient (2 × 4 B per logit)
#   of next_power_of_2(ceil(tokens / ceil(vocab / hidden))) tokens (liger_kernel/ops/
#   fused_linear_cross_entropy.py).
LOSS_LOGIT_BYTES = {"fp32-logits": 12, "bf16-logits": 6, "chunked": 8}
LOSS_LOGIT_BYTES_DEFAULT = "fp32-logits"

# The weight formats bitsandbytes' 4-bit layers (Linear4bit -> MatMul4Bit) compute from: NF4 with and
# without double quantization (formats.py). optimizations.legacy_bnb applies to these only.
BNB_4BIT = ("nf4", "nf4-dq")

# optimizations.quantized_lm_head: Lightning's BitsandbytesPrecision (lightning/fabric/plugins/precision/
# bitsandbytes.py, the plugin LitGPT's --quantize bnb.* builds without ignore_modules) quantizes every nn.Linear,
# lm_head included, from an fp16 copy (so quant_state.dtype is fp16); bitsandbytes 0.41-0.42's MatMul4Bit.backward
# computes ``grad_output @ F.dequantize_4bit(B, state).to(grad_output.dtype).t()`` (bitsandbytes/autograd/
# _functions.py @ 0.42.0, line 546), so the cast holds the fp16 dequant and its bf16 copy at once: 2 + 2 B per
# lm_head weight. By then the loss's saved log-probs are freed (their backward ran first): the bf16 logits and
# their gradient are left, 2 + 2 B per logit (8 with fp32 logits).
BNB_HEAD_DEQUANT_BYTES = 4
HEAD_BACKWARD_LOGIT_BYTES = 4

# Activation offloading (torchtune/training/_activation_offloading.py, OffloadActivations): every
# saved tensor of at least min_offload_size (1024 B) is copied to pinned host memory on a side stream;
# up to max_fwd_stash_size (5) tensors stay on the GPU while their copies are in flight, and backward
# brings a layer's tensors back just before it needs them. The GPU keeps about one layer on each side:
OFFLOAD_GPU_LAYERS = 2

# --- optimisers ------------------------------------------------------------------------
# Bytes per trainable parameter of optimiser state, by state precision. AdamW keeps two moments
# (Loshchilov & Hutter 2019); bitsandbytes 8-bit Adam keeps both in 8 bit (Dettmers et al. 2022,
# blockwise: + 4 B absmax per 2048 values, negligible); SGD with momentum and Lion keep one.
# "pure": torch keeps states in the parameters' dtype, so bf16 params give bf16 moments.
OPTIMIZER_STATES = {"adamw": 2, "adamw-8bit": 2, "adafactor": 1, "sgd": 0, "sgd-momentum": 1, "lion": 1}
OPTIMIZER_STATE_BYTES = {
    "adamw": {"fp32": 8, "pure": 4},
    "adamw-8bit": {"fp32": 2, "pure": 2},
    "adafactor": {"fp32": 0, "pure": 0},  # factored: computed from the shapes in estimate.py
    "sgd": {"fp32": 0, "pure": 0},
    "sgd-momentum": {"fp32": 4, "pure": 2},
    "lion": {"fp32": 4, "pure": 2},
}
# torch.optim's default foreach implementation: AdamW's step allocates a temporary the size of one
# state (4 B per fp32 parameter), SGD with momentum updates its buffer in place and allocates none
# (scripts/trace_memory.py, "optimizer_temporary_bytes_per_param": adamw 4.0, sgd-momentum 0.0);
# Lion (lion-pytorch's update: sign of an interpolation) one, as AdamW; DeepSpeed's fused optimisers
# (ZeRO >= 1) none.
FOREACH_TEMP_STATES = {"adamw": 1, "adamw-8bit": 0, "adafactor": 0, "sgd": 0, "sgd-momentum": 0, "lion": 1}
# ZeRO-3 gathers a layer's parameters when it runs and prefetches up to stage3_prefetch_bucket_size
# elements of the next ones, keeping at most stage3_max_live_parameters gathered; tensors under
# stage3_param_persistence_threshold elements (norms, biases) are never partitioned. DeepSpeed's
# defaults (deepspeed/runtime/zero/config.py, DeepSpeedZeroConfig: prefetch_bucket_size 5e7,
# max_live_parameters 1e9, param_persistence_threshold 1e5), which apply to the ds_config.json the
# plans write (it sets none of the three).
ZERO3_PREFETCH_ELEMS = 50_000_000
ZERO3_MAX_LIVE_ELEMS = 1_000_000_000
ZERO3_PERSISTENCE_ELEMS = 100_000

# --- speed -----------------------------------------------------------------------------
# Decode is memory-bound: tokens/s = bandwidth × efficiency / bytes read per token. Single-stream
# decode in llama.cpp/vLLM reaches 60-80 % of peak DRAM bandwidth on current GPUs (llama.cpp
# discussion #4167 "performance of llama.cpp on NVIDIA CUDA" tables); 0.7 is used.
DECODE_BANDWIDTH_EFFICIENCY = 0.7
