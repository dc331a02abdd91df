"""The ``precise`` method: architecture-aware memory per component, per GPU and in total.

Every constant carries its source. ``docs/method.md`` walks through each term; the ``why``
strings built here are the short form the TUI and ``--json`` show next to each number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import constants as K
from .formats import KV_FORMATS, WeightFormat, kv_format, token_embedding_bytes, weight_bytes, weight_format
from .model import ModelSpec
from .scenario import Scenario

COMPONENTS: tuple[str, ...] = (
    "weights", "kv_cache", "activations", "gradients", "optimizer_states", "adapters", "overhead",
)


@dataclass(frozen=True)
class Estimate:
    """Memory in bytes. ``per_gpu`` is the busiest GPU; ``components`` sums over every GPU."""

    method: str
    parameters: int
    gpus: int
    per_gpu: dict[str, int]
    why: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    kv_bytes_per_token: int = 0  # per GPU, all layers, one sequence (vLLM capacity uses it)
    trainable_parameters: int = 0
    # the ZeRO paper's "model states" on one GPU: its shard of the weights, the gradients and the
    # optimizer states, all held at once; without ZeRO-3's gathered layers, autocast's cache or the
    # step's temporaries (which are not model states), so it can be checked against the paper's Table 1
    model_states_per_gpu: int = 0
    # training: the activations all layers keep for backward, on one GPU, without the loss logits and
    # the one layer being recomputed or differentiated: what Korthikanti et al.'s Table 2 counts
    saved_activations_per_gpu: int = 0

    @property
    def components(self) -> dict[str, int]:
        return {k: v * self.gpus for k, v in self.per_gpu.items()}

    @property
    def per_gpu_bytes(self) -> int:
        return sum(self.per_gpu.values())

    @property
    def total_bytes(self) -> int:
        return self.per_gpu_bytes * self.gpus

    @property
    def allocated_per_gpu(self) -> int:
        """Comparable to ``torch.cuda.max_memory_allocated``: everything but the overhead."""
        return self.per_gpu_bytes - self.per_gpu["overhead"]

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "parameters": self.parameters,
            "trainable_parameters": self.trainable_parameters,
            "gpus": self.gpus,
            "total_bytes": self.total_bytes,
            "per_gpu_bytes": self.per_gpu_bytes,
            "components": self.components,
            "per_gpu_components": dict(self.per_gpu),
            "model_states_per_gpu_bytes": self.model_states_per_gpu,
            "saved_activations_per_gpu_bytes": self.saved_activations_per_gpu,
            "why": dict(self.why),
            "notes": list(self.notes),
        }


def estimate(scenario: Scenario, method: str = "precise") -> Estimate:
    if method == "guide":
        from .guide import guide_estimate

        return guide_estimate(scenario)
    if method != "precise":
        raise ValueError(f"unknown method {method!r}; allowed: precise, guide")
    return _Precise(scenario).run()


def _ceil_div(a: int | float, b: int) -> int:
    return int(math.ceil(a / b))


def kv_block_tokens(s: Scenario) -> int:
    """Tokens per KV allocation unit: vLLM's page, llama.cpp's padding (256 with flash attention, 32
    without), one token in transformers. The KV cache is flat inside a block, which the fit solvers use."""
    if s.workload.runtime == "llama.cpp" and not s.optimizations.flash_attention:
        return K.LLAMACPP_KV_PAD_NO_FA
    return K.KV_BLOCK_TOKENS[s.workload.runtime]


def _mib(n: float) -> int:
    return int(n * K.MiB)


class _Precise:
    def __init__(self, s: Scenario) -> None:
        self.s = s
        self.m: ModelSpec = s.model.spec
        self.c = self.m.counts()
        self.w = s.workload
        self.o = s.optimizations
        self.training = s.workload.mode != "inference"
        self.tp = self.o.tensor_parallel
        self.pp = self.o.pipeline_parallel
        self.dp = self.o.data_parallel
        self.zero = self.o.zero_stage if (self.training and self.dp > 1) else 0
        self.notes: list[str] = []
        self.why: dict[str, str] = {}

    # --- helpers ------------------------------------------------------------------
    @property
    def stage_layers(self) -> int:
        return _ceil_div(self.m.num_hidden_layers, self.pp)

    def layer_share(self) -> float:
        return self.stage_layers / self.m.num_hidden_layers

    def act_bytes(self) -> int:
        """Bytes per activation element: fp32 training keeps fp32 activations."""
        return 4 if (self.w.mode == "full" and self.w.recipe == "fp32") else 2

    def lora_matrices(self) -> list[tuple[int, int]]:
        """(in, out) of every matrix LoRA adapts in one layer."""
        m = self.m
        h, q, kv = m.hidden_size, m.q_dim, m.kv_heads * m.head_size
        inter = m.intermediate_size if not m.is_moe else (
            m.shared_expert_intermediate_size or m.moe_intermediate_size * max(1, m.num_shared_experts)
        )
        shapes = {
            "q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
            "gate_proj": (h, inter), "up_proj": (h, inter), "down_proj": (inter, h),
        }
        if not m.mlp_gated:
            shapes.pop("gate_proj")
        return [shapes[t] for t in self.o.lora_targets if t in shapes]

    def lora_params(self) -> int:
        r = self.o.lora_rank
        return self.m.num_hidden_layers * sum(r * (i + o) for i, o in self.lora_matrices())

    # --- components -----------------------------------------------------------------
    def weights(self) -> int:
        m, c = self.m, self.c
        if self.w.mode == "full":
            per_param = 4 if self.w.recipe in ("fp32", "amp") else 2
            total = c.total * per_param
            emb = c.embedding * per_param
            head = c.lm_head * per_param
            self.why["weights"] = f"{c.total:,} params × {per_param} B ({self.w.recipe} recipe)"
            if self.w.weights not in ("fp32", "bf16", "fp16"):
                self.notes.append(f"full fine-tuning trains {per_param}-byte weights; the '{self.w.weights}' format is not used")
        else:
            fmt: WeightFormat = weight_format(self.w.weights)
            total = weight_bytes(m, fmt)
            keep_bits = fmt.other_bits if fmt.kind == "quant" else 8 * total / max(1, c.total)
            emb = int(c.embedding * keep_bits / 8)
            head = int(c.lm_head * keep_bits / 8)
            bits = 8 * total / max(1, c.total)
            self.why["weights"] = f"{c.total:,} params × {bits:.3f} b/param ({fmt.label}, scales and 16-bit tensors included)"
        if self.w.runtime == "llama.cpp" and self.w.mode == "inference" and not m.tie_word_embeddings:
            # llama.cpp keeps the input embedding table in host memory (its input layer runs on the CPU);
            # a tied model's output layer still needs that matrix on the GPU as a duplicate.
            host = token_embedding_bytes(m, fmt)
            total -= host
            emb = 0
            self.why["weights"] += f"; token embeddings ({host / (1 << 30):.2f} GiB) stay in host RAM"
        # pipeline stages: embedding on the first, lm_head (or a tied copy) on the last
        if self.pp > 1:
            body = (total - emb - head) * self.layer_share()
            last_head = head if head else emb
            total = int(body + max(emb, last_head))
        per_gpu = self.weight_shard = _ceil_div(total, self.tp)
        if self.zero >= 3:
            layer = (self.c.total - self.c.embedding - self.c.lm_head) / m.num_hidden_layers
            param_bytes = 4 if (self.w.mode == "full" and self.w.recipe in ("fp32", "amp")) else 2
            gather = int(K.ZERO3_PREFETCH_LAYERS * layer * param_bytes / self.tp)
            per_gpu = _ceil_div(per_gpu, self.dp)
            self.weight_shard = per_gpu
            per_gpu += gather
            self.why["weights"] += f"; ZeRO-3 shards ÷{self.dp} + {K.ZERO3_PREFETCH_LAYERS} gathered layers"
        if self.w.mode == "full" and self.w.recipe == "amp":
            cache = _ceil_div(c.total * 2, self.tp * (self.dp if self.zero >= 3 else 1))
            per_gpu += cache
            self.why["weights"] += "; + bf16 copies held by autocast's weight cache during forward"
        return per_gpu

    def kv_tokens(self) -> int:
        ctx = self.w.context_length
        block = self.kv_block()
        return _ceil_div(ctx, block) * block

    def kv_block(self) -> int:
        return kv_block_tokens(self.s)

    def kv_cache(self) -> int:
        if self.training:
            self.why["kv_cache"] = "training runs with use_cache=False: no KV cache is kept"
            return 0
        m = self.m
        fmt = kv_format(self.w.kv_cache)
        tokens = self.kv_tokens()
        if m.is_mla and self.w.runtime == "transformers":
            # transformers' DeepseekV3Attention caches the decompressed K and V of every head
            per_tok_layer = m.num_attention_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim)
            shard = 1
            how = f"heads·(qk+v head dims) = {per_tok_layer} (transformers stores MLA decompressed)"
        elif m.is_mla:
            per_tok_layer = m.kv_cache_elems_per_token_layer
            shard = 1  # the compressed latent is replicated on every tensor-parallel rank (vLLM MLA)
            how = f"kv_lora_rank + rope dim = {per_tok_layer} (MLA latent)"
        else:
            per_tok_layer = m.kv_cache_elems_per_token_layer
            shard = min(self.tp, m.kv_heads)  # more TP ranks than KV heads replicate heads
            how = f"2·{m.kv_heads} kv heads·{m.head_size} head_dim = {per_tok_layer}"
        windowed = m.windowed_layers
        full = m.num_hidden_layers - windowed
        win_tokens = min(tokens, m.sliding_window or tokens)
        elems_per_seq = per_tok_layer * (full * tokens + windowed * win_tokens)
        per_gpu_seq = elems_per_seq * self.layer_share() / shard
        self.kv_per_token = int(per_tok_layer * m.num_hidden_layers * self.layer_share() / shard * fmt.bytes_per_elem)
        total = int(math.ceil(per_gpu_seq * self.w.batch_size * fmt.bytes_per_elem))
        self.why["kv_cache"] = (
            f"{how} × {m.num_hidden_layers} layers × {tokens:,} tokens × batch {self.w.batch_size} × "
            f"{fmt.bytes_per_elem:g} B ({fmt.label})"
        )
        if windowed:
            self.why["kv_cache"] += f"; {windowed} sliding-window layers hold ≤ {m.sliding_window:,} tokens"
        if tokens != self.w.context_length:
            self.why["kv_cache"] += f"; rounded up to {self.kv_block()}-token blocks"
        if fmt.id in ("q8_0", "q4_0") and self.w.runtime != "llama.cpp":
            self.notes.append(f"KV type {fmt.id} is a llama.cpp cache type; {self.w.runtime} does not offer it")
        return total

    def _mlp_width(self) -> tuple[int, int]:
        """(per-token MLP intermediate width touched, router width) for activations."""
        m = self.m
        if not m.is_moe:
            return m.intermediate_size, 0
        shared = m.shared_expert_intermediate_size or m.moe_intermediate_size * m.num_shared_experts
        return m.num_experts_per_tok * m.moe_intermediate_size + shared, m.num_experts

    def inference_activations(self) -> int:
        m, w = self.m, self.w
        h, q, kv = m.hidden_size, m.q_dim, m.kv_heads * m.head_size
        inter, router = self._mlp_width()
        batch, ctx = w.batch_size, w.context_length
        if w.runtime == "llama.cpp":
            # llama.cpp's compute buffer is f32 and sized for one ubatch against the whole context.
            ub = min(K.LLAMACPP_UBATCH, batch * ctx)
            n_ctx = self.kv_tokens() * batch
            logits = ub * (m.vocab_size + h) * 4
            attn = 0 if self.o.flash_attention else (
                ub * n_ctx * m.num_attention_heads * 4 + ub * n_ctx * 4 + ub * K.LLAMACPP_NOFA_HIDDEN * h * 4)
            buf = max(logits, attn)
            self.why["activations"] = (
                f"llama.cpp compute buffer: max(ubatch {ub} × (vocab + hidden) × 4 B logits"
                + ("" if self.o.flash_attention else ", ubatch × n_ctx × heads × 4 B scores") + ")"
            )
            return _ceil_div(buf, self.tp)
        if w.runtime == "vllm":
            tokens = K.VLLM_MAX_BATCHED_TOKENS
            sampler = int(K.VLLM_MAX_NUM_SEQS * m.vocab_size * K.VLLM_SAMPLER_BYTES_PER_LOGIT)
            layer = _ceil_div(tokens * 2 * (2 * h + max(2 * q + 2 * kv, (3 if m.mlp_gated else 2) * inter) + router * 2), self.tp)
            self.why["activations"] = (
                f"vLLM profile run: the larger of one layer at {tokens:,} batched tokens ÷ TP and the sampler's "
                f"{K.VLLM_MAX_NUM_SEQS} sequences × vocab × {K.VLLM_SAMPLER_BYTES_PER_LOGIT} B (not split by TP)"
            )
            return max(layer, sampler)
        # transformers generate(): the whole prompt in one forward, one layer's transient peak
        a = 2 if w.weights != "fp32" else 4
        tokens = batch * ctx
        if m.is_moe:
            per_expert = math.ceil(tokens * m.num_experts_per_tok / m.num_experts)
            shared = m.shared_expert_intermediate_size or m.moe_intermediate_size * m.num_shared_experts
            mats = 3 if m.mlp_gated else 2
            mlp = tokens * h * a + per_expert * mats * m.moe_intermediate_size * a + tokens * mats * shared * a + tokens * router * 4
        else:
            mlp = tokens * (3 if m.mlp_gated else 2) * inter * a
        attn = tokens * (2 * q + 2 * kv) * a
        layer = tokens * 2 * h * a + max(attn, mlp)
        scores = 0 if self.o.flash_attention else batch * m.num_attention_heads * ctx * ctx * K.EAGER_SCORE_BYTES
        logits = batch * m.vocab_size * 4
        self.why["activations"] = (
            f"one layer's prefill peak over {tokens:,} tokens (hidden, q/k/v, MLP intermediates)"
            + ("" if self.o.flash_attention else f" + eager scores batch·heads·seq²·{K.EAGER_SCORE_BYTES} B")
            + " + last-position logits × vocab × 4 B"
        )
        return _ceil_div(layer + scores, self.tp) + logits

    def training_activations(self) -> int:
        m, w, o = self.m, self.w, self.o
        h, q, kv = m.hidden_size, m.q_dim, m.kv_heads * m.head_size
        inter, router = self._mlp_width()
        heads = m.num_attention_heads
        tokens = w.batch_size * w.context_length
        scale = self.act_bytes() / 2
        # HF Llama-style layer, bf16, sdpa: saved bytes per token (DESIGN, traced with torch)
        per_tok = 20 * h + (8 if m.mlp_gated else 4) * inter + 4 * kv + 4 * heads + 8 + 4 * router
        if w.mode in ("lora", "qlora"):
            # frozen matrices need no saved input: drop the normed inputs of q/k/v and of the MLP,
            # o_proj's input and down_proj's input; add peft's fp32 copy of each adapted input
            per_tok -= 4 * h + 2 * q + 2 * inter
            per_tok += sum(4 * i + 4 * o.lora_rank for i, _ in self.lora_matrices())
        per_tok = int(per_tok * scale)
        seq2 = 0 if o.flash_attention else w.batch_size * heads * w.context_length ** 2
        layers = m.num_hidden_layers
        # TP splits a layer's activations over t GPUs but for the norms' and blocks' inputs, which every
        # GPU keeps unless sequence parallelism splits them too (constants.TP_REPLICATED_ACT_BYTES)
        tp, split_all = self.tp, self.tp == 1 or o.sequence_parallel
        whole = 0 if split_all else min(per_tok, int(K.TP_REPLICATED_ACT_BYTES * h * scale))
        layer_tok = whole + (per_tok - whole) / tp  # one layer's saved bytes per token on one GPU
        # stored: what every layer keeps for backward, as Korthikanti et al.'s Table 2 counts it;
        # transient: what the one layer that backward is working on adds
        if o.gradient_checkpointing:
            # full recomputation stores each layer's input, 2 B x h per token (Table 2's "sbh(2)"),
            # and rebuilds one layer's activations at a time
            stored = layers * tokens * 2 * h * scale / (tp if split_all else 1)
            transient = tokens * layer_tok + seq2 * K.EAGER_SCORE_BYTES / tp
            how = "checkpointing: each layer's input + one layer recomputed"
        else:
            stored = layers * (tokens * layer_tok + seq2 * K.EAGER_SAVED_SCORE_BYTES / tp)
            transient = seq2 * (K.EAGER_SCORE_BYTES - K.EAGER_SAVED_SCORE_BYTES) / tp
            how = f"{per_tok} B per token per layer saved for backward"
        if tp > 1:
            how += (f", ÷{tp} by tensor parallelism" + ("" if split_all else
                    f" but {whole} B per token per layer (norm and block inputs) kept whole on every GPU"))
        self.saved_activations = int(stored)
        saved = stored + transient
        # PP with 1F1B: the first stage holds pp micro-batches of L/pp layers = the same total
        per_logit = K.LOSS_LOGIT_BYTES[o.loss]
        if o.loss == "chunked":
            chunk = 1 << max(0, math.ceil(tokens / math.ceil(m.vocab_size / h)) - 1).bit_length()
            loss_tokens = min(tokens, chunk)
            loss_how = f"fused cross-entropy: a {loss_tokens:,}-token chunk × vocab × {per_logit} B"
        else:
            loss_tokens = tokens
            loss_how = f"loss logits tokens × vocab × {per_logit} B ({o.loss}: logits, log-probs, gradient)"
        logits = loss_tokens * m.vocab_size * per_logit
        self.why["activations"] = (
            f"{how} × {layers} layers × {tokens:,} tokens"
            + ("" if o.flash_attention else f" + eager attention batch·heads·seq²·{K.EAGER_SAVED_SCORE_BYTES} B per layer")
            + f" + {loss_how}"
        )
        return int(saved + logits)

    def training_states(self) -> dict[str, int]:
        """Per GPU: gradients, persistent optimizer states (+ master), the step's temporary, adapters,
        the gradients that exist at the start of backward (lm_head's), and the trainable count."""
        m, w, o = self.m, self.w, self.o
        opt = o.optimizer
        if w.mode == "full":
            trainable = self.c.total
            grad_b = 4 if w.recipe in ("fp32", "amp") else 2
            state_b = K.OPTIMIZER_STATE_BYTES[opt]["pure" if w.recipe == "bf16-pure" else "fp32"]
            master = 4 if w.recipe == "bf16-mixed" else 0
        else:
            trainable = self.lora_params()
            grad_b, state_b, master = 4, K.OPTIMIZER_STATE_BYTES[opt]["fp32"], 0  # peft adapters are fp32
        if opt == "adafactor":
            # factored second moment: (rows + cols) fp32 values per h×x matrix = 4/x + 4/h ≤ 8/h B/param
            state_b = 8 / m.hidden_size
        temp_b = K.FOREACH_TEMP_STATES[opt] * (state_b / max(1, K.OPTIMIZER_STATES[opt])) if self.zero == 0 else 0
        params_here = trainable * self.layer_share() / self.tp
        grads = params_here * grad_b
        states = params_here * (state_b + master)
        temp = params_here * temp_b
        head = (self.c.lm_head or self.c.embedding) * grad_b / self.tp if w.mode == "full" else grads
        if self.zero >= 1:
            states /= self.dp
            temp /= self.dp
        if self.zero >= 2:
            grads /= self.dp
            head /= self.dp
        if o.cpu_offload and w.mode == "full":
            states = temp = 0
            if self.zero >= 2:
                grads = head = 0
            self.notes.append("CPU offload keeps optimizer states (and sharded gradients) in host RAM")
        adapters = params_here * 4 if w.mode in ("lora", "qlora") else 0
        self.why["gradients"] = f"{trainable:,} trainable params × {grad_b} B" + (f" ÷ {self.dp} (ZeRO-{self.zero})" if self.zero >= 2 else "")
        self.why["optimizer_states"] = (
            f"{trainable:,} × ({state_b:g} B {opt} states" + (f" + {master} B fp32 master" if master else "")
            + (f" + {temp_b:g} B foreach step temporary" if temp_b else "") + ")"
            + (f" ÷ {self.dp} (ZeRO-{self.zero})" if self.zero >= 1 else "")
        )
        if adapters:
            self.why["adapters"] = f"LoRA r={o.lora_rank} on {', '.join(o.lora_targets)}: {trainable:,} params × 4 B (fp32)"
        return {"gradients": int(grads), "states": int(states), "temp": int(temp), "adapters": int(adapters),
                "head_gradients": int(min(head, grads)), "trainable": trainable}

    def training_peak(self, per: dict[str, int]) -> int:
        """Fill in the components resident at the training step's peak; return the trainable count.

        Saved activations and parameter gradients never coexist in full: backward frees each layer's
        activations as it allocates that layer's gradients (zero_grad(set_to_none=True), no gradient
        accumulation), so the peak is the larger of two moments: the start of backward (all
        activations + the loss logits + lm_head's gradient) and the optimizer step (all gradients +
        the step's temporary). Checked against PEFT's full fine-tuning run of Llama-3.2-3B
        (validation/points/vllm_hf.toml), where summing both overestimated by 40 %.
        """
        act = self.training_activations()
        st = self.training_states()
        self.model_states = self.weight_shard + st["gradients"] + st["states"] + st["adapters"]
        per["adapters"] = st["adapters"]
        backward = act + st["head_gradients"]
        step = st["gradients"] + st["temp"]
        gib = 1 << 30
        if backward >= step:
            per["activations"], per["gradients"], per["optimizer_states"] = act, st["head_gradients"], st["states"]
            self.notes.append(
                f"peak at the start of backward; the {st['gradients'] / gib:.2f} GiB of gradients are allocated as "
                f"activations are freed, and the optimizer step needs less ({(step - backward) / gib:+.2f} GiB)")
        else:
            per["activations"], per["gradients"], per["optimizer_states"] = 0, st["gradients"], st["states"] + st["temp"]
            self.notes.append(
                f"peak at the optimizer step (gradients + step temporary); the {act / gib:.2f} GiB of activations "
                f"are freed by then")
        return st["trainable"]

    def overhead(self, allocated: int) -> int:
        rt = self.w.runtime
        ctx = K.RUNTIME_CONTEXT_MIB[rt]
        extra = K.NCCL_MIB if self.o.gpus > 1 else 0
        slack = K.ALLOCATOR_SLACK["training" if self.training else "inference"][rt]
        self.why["overhead"] = (
            f"{ctx} MiB CUDA context + runtime ({rt})" + (f" + {K.NCCL_MIB} MiB NCCL" if extra else "")
            + f" + {slack:.0%} allocator slack"
        )
        return _mib(ctx + extra) + int(allocated * slack)

    def run(self) -> Estimate:
        per = dict.fromkeys(COMPONENTS, 0)
        self.kv_per_token = 0
        per["weights"] = self.weights()
        self.model_states = self.weight_shard
        self.saved_activations = 0
        per["kv_cache"] = self.kv_cache()
        trainable = 0
        if self.training:
            trainable = self.training_peak(per)
        else:
            per["activations"] = self.inference_activations()
        per["overhead"] = self.overhead(sum(per.values()))
        return Estimate(
            method="precise",
            parameters=self.c.total,
            gpus=self.o.gpus,
            per_gpu=per,
            why=self.why,
            notes=tuple(self.notes),
            kv_bytes_per_token=self.kv_per_token,
            trainable_parameters=trainable,
            model_states_per_gpu=self.model_states,
            saved_activations_per_gpu=self.saved_activations,
        )


__all__ = ["COMPONENTS", "Estimate", "estimate", "KV_FORMATS"]
