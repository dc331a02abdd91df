"""Every number the precise method uses that is not derived from the architecture, with its source.

Where a value is a calibration rather than a specification it says so, and names what it was
fitted to; ``docs/method.md`` repeats the table.
"""

from .units import GiB, MiB  # noqa: F401  (re-exported for the estimator)

# --- runtimes: memory outside the framework's counters, per GPU -------------------------
# transformers: the CUDA context that torch creates on first use (driver + cuBLAS/cuDNN kernels
# loaded lazily, CUDA >= 11.7 lazy loading). PyTorch's "CUDA semantics" notes and forum reports put
# it at 300-600 MiB depending on GPU and driver; 500 MiB is the middle of that range.
# vLLM: DESIGN.md (public vLLM logs): CUDA context ~0.5 GiB plus CUDA graphs of 0.5-1.6 GiB (the
# default captures graphs); 512 + 768 MiB.
# llama.cpp: DESIGN.md: the process holds 0.25-0.45 GiB per GPU beyond its model/KV/compute buffers on
# Linux; 350 MiB is the middle.
RUNTIME_CONTEXT_MIB = {"transformers": 500, "vllm": 512 + 768, "llama.cpp": 350}
NCCL_MIB = 256  # NCCL communicator buffers when more than one GPU takes part (NCCL_BUFFSIZE 4 MiB × channels)

# Caching-allocator slack (reserved minus allocated, fragmentation), as a share of what is allocated.
# DESIGN.md: nvidia-smi reads 6-50 % above max_memory_allocated in training; inference with few,
# large, long-lived tensors sits at the low end. llama.cpp and vLLM allocate their buffers once.
ALLOCATOR_SLACK = {
    "inference": {"transformers": 0.05, "vllm": 0.0, "llama.cpp": 0.0},
    "training": {"transformers": 0.10, "vllm": 0.10, "llama.cpp": 0.10},
}

# --- KV cache -------------------------------------------------------------------------
# vLLM: PagedAttention block size 16 tokens (vllm/config: CacheConfig.block_size default 16).
# llama.cpp: the KV cache is padded to 256 cells with flash attention and 32 without
# (llama_kv_cache::get_padding: "the FA kernels require padding").
KV_BLOCK_TOKENS = {"transformers": 1, "vllm": 16, "llama.cpp": 256}
LLAMACPP_KV_PAD_NO_FA = 32

# --- activations -------------------------------------------------------------------------
LLAMACPP_UBATCH = 512  # llama.cpp default n_ubatch (common/common.h)
# Without flash attention the compute buffer holds, next to the f32 KQ matrix (ubatch × n_ctx × heads),
# the f32 KQ mask (ubatch × n_ctx) and ~4 hidden-sized f32 rows per ubatch token. Fitted to llama.cpp
# logs (validation/points/llamacpp.toml): Llama 3 8B, n_ctx 8192: 512 + 16 + 32 = 560.00 MiB, and
# OpenLLaMA 7B (ggml-org/ci), n_ctx 2048: 128 + 4 + 32 = 164 MiB.
LLAMACPP_NOFA_HIDDEN = 4
VLLM_MAX_BATCHED_TOKENS = 8192  # vLLM V1 default max_num_batched_tokens for `vllm serve` on >= 70 GiB GPUs (arg_utils.py)
# vLLM V1 defaults max_num_seqs to 1024 on >= 70 GiB GPUs (256 on smaller ones); its profile run samples
# that many sequences. Using 1024 everywhere is conservative on small cards (docs/method.md).
VLLM_MAX_NUM_SEQS = 1024
# The profiled activation peak is the sampler's, not the forward pass's: it does not shrink with tensor
# parallelism and scales with the vocabulary. Calibrated on the llm-d-planner vLLM 0.19.0 sweep (H100,
# validation/points/vllm_hf.toml): Llama-3.1-8B 1.89 GiB and Qwen2.5-7B 2.21 GiB at TP 1, 2 and 4
# = 1024 sequences × vocab × 15.45 / 15.24 B; ~4 fp32 copies of the logits (logits, probabilities,
# log-probabilities, a sort buffer) less in-place reuse.
VLLM_SAMPLER_BYTES_PER_LOGIT = 15.35
# Eager (non-flash) attention: bf16 scores plus two fp32 softmax tensors for the layer being computed
# (DESIGN.md, allocator trace of transformers' eager_attention_forward): 10 B per score.
EAGER_SCORE_BYTES = 10
# Of those, backward keeps the fp32 softmax output and its bf16 cast per layer: 6 B per score.
EAGER_SAVED_SCORE_BYTES = 6
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
#   the log-probabilities and their gradient, ~3 × 4 B (DESIGN.md's trace: 11.7 GiB for Llama-3-8B at
#   4 × 2048 tokens = 3 × 4·8192·128256 B).
# bf16-logits: a loss computed outside the model on the bf16 logits (nn.CrossEntropyLoss(logits, ...)):
#   the same three tensors in bf16, 3 × 2 B.
# chunked: a fused linear + cross-entropy (Liger-Kernel's LigerFusedLinearCrossEntropy, Unsloth's) never
#   materialises the logits; it keeps one chunk of fp32 logits and their gradient (2 × 4 B per logit)
#   of next_power_of_2(ceil(tokens / ceil(vocab / hidden))) tokens (liger_kernel/ops/
#   fused_linear_cross_entropy.py).
LOSS_LOGIT_BYTES = {"fp32-logits": 12, "bf16-logits": 6, "chunked": 8}
LOSS_LOGIT_BYTES_DEFAULT = "fp32-logits"

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
# torch.optim's default foreach implementation allocates a temporary the size of one state during
# step() (DESIGN.md allocator trace); DeepSpeed's fused optimisers (ZeRO >= 1) do not.
FOREACH_TEMP_STATES = {"adamw": 1, "adamw-8bit": 0, "adafactor": 0, "sgd": 0, "sgd-momentum": 1, "lion": 1}
# ZeRO-3 gathers the next layers' parameters ahead of use (stage3_prefetch_bucket_size ~ a layer).
ZERO3_PREFETCH_LAYERS = 2

# --- speed -----------------------------------------------------------------------------
# Decode is memory-bound: tokens/s = bandwidth × efficiency / bytes read per token. Single-stream
# decode in llama.cpp/vLLM reaches 60-80 % of peak DRAM bandwidth on current GPUs (llama.cpp
# discussion #4167 "performance of llama.cpp on NVIDIA CUDA" tables); 0.7 is used.
DECODE_BANDWIDTH_EFFICIENCY = 0.7
