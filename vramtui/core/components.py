"""The precise method's components, each a pure function of a ``Setup``.

Each returns its bytes on the busiest GPU together with the formula that produced them, so the text
shown beside a number is made from the same values as the number. ``docs/method.md`` walks through
each term and its source.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from . import constants as K
from .formats import extra_weight_bytes, weight_bytes
from .formula import Term, explain, explaining, q, size
from .setup import Setup
from .units import GiB


def _ceil_div(a: int | float, b: int) -> int:
    return int(math.ceil(a / b))


class Weights(NamedTuple):  # a Part with the weights' own figures (a NamedTuple cannot extend one)
    bytes: int
    why: str = ""
    notes: tuple[str, ...] = ()
    shard: int = 0  # this GPU's share of the weights without ZeRO-3's gathered layers or autocast's cache
    extra: int = 0  # of the bytes, modules outside the language model (vision tower, projector, MTP head)


class KVCache(NamedTuple):
    bytes: int
    why: str = ""
    notes: tuple[str, ...] = ()
    per_token: int = 0  # bytes per token of one sequence on this GPU, all its layers (vLLM capacity uses it)


class Activations(NamedTuple):
    bytes: int
    why: str = ""
    notes: tuple[str, ...] = ()
    saved: int = 0  # training: what all layers keep for backward (Korthikanti et al.'s Table 2)


class States(NamedTuple):
    gradients: int
    states: int
    temp: int  # the optimizer step's temporary (torch's foreach implementation)
    adapters: int
    head_gradients: int  # the gradients that exist at the start of backward (lm_head's)
    trainable: int
    # the arithmetic behind each figure, shown beside whichever the peak moment holds
    how: dict[str, str]
    notes: tuple[str, ...] = ()


def lora_matrices(setup: Setup) -> list[tuple[int, int]]:
    """(in, out) of every matrix LoRA adapts in one layer."""
    m = setup.spec
    h, qd, kv = m.hidden_size, m.q_dim, m.kv_heads * m.head_size
    inter = m.intermediate_size if not m.is_moe else (
        m.shared_expert_intermediate_size or (m.moe_intermediate_size or 0) * max(1, m.num_shared_experts))
    shapes = {
        "q_proj": (h, qd), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (qd, h),
        "gate_proj": (h, inter), "up_proj": (h, inter), "down_proj": (inter, h),
    }
    if not m.mlp_gated:
        shapes.pop("gate_proj")
    return [shapes[t] for t in setup.o.lora_targets if t in shapes]


def lora_params(setup: Setup) -> int:
    r = setup.o.lora_rank
    return setup.spec.num_hidden_layers * sum(r * (i + o) for i, o in lora_matrices(setup))


def weights(setup: Setup) -> Weights:
    m, c, w = setup.spec, setup.counts, setup.w
    notes: list[str] = []
    comments: list[str] = []
    if w.mode == "full":
        per_param = setup.recipe.param_bytes
        total, emb, head = c.total * per_param, c.embedding * per_param, c.lm_head * per_param
        f = q(c.total, "params") * q(per_param, "B")
        comments.append(f"{w.recipe} recipe")
        if w.weights not in ("fp32", "bf16", "fp16"):
            notes.append(f"full fine-tuning trains {per_param}-byte weights; the '{w.weights}' format is not used")
    else:
        fmt = setup.weight_format
        total = weight_bytes(m, fmt)
        stored = m.counts().total  # what weight_bytes counted: without an untied copy of a tied lm_head
        keep_bits = fmt.other_bits if fmt.kind == "quant" else 8 * total / max(1, stored)
        emb, head = int(c.embedding * keep_bits / 8), int(c.lm_head * keep_bits / 8)
        bits = 8 * total / max(1, stored)
        if m.stored_bytes is not None and m.stored_format == fmt.id:
            f = q(total, "B stored")
            comment = f"{fmt.label} as the checkpoint stores it, from its headers"
            if m.stored_extra_bytes:
                comment += f", of which {m.stored_extra_bytes / GiB:.2f} GiB {m.extra_parameters_note or 'extra modules'}"
            comments.append(comment)
        else:
            f = q(stored, "params") * q(bits, "bits") / q(8, "bits per B")
            comments.append(f"{fmt.label}, scales and 16-bit tensors included")
        if head and m.tie_word_embeddings:  # optimizations.untied_lm_head: its own copy of the tied matrix
            total += head
            f = f + q(c.lm_head, "lm_head params") * q(keep_bits, "bits") / q(8, "bits per B")
            comments.append("lm_head its own matrix beside the tied embedding (LitGPT's GPT)")
        if setup.kbit_fp32:  # prepare_model_for_kbit_training: every unquantized tensor in fp32
            unquantized = c.total - c.linear
            extra_b = 4 - (fmt.other_bits if fmt.kind == "quant" else 16) / 8
            total += int(unquantized * extra_b)
            emb, head = c.embedding * 4, c.lm_head * 4
            f = f + q(unquantized, "unquantized params") * q(extra_b, "B more in fp32")
            comments.append("PEFT's prepare_model_for_kbit_training keeps embeddings, lm_head and norms in fp32")
        if quantized_head(setup):
            # Lightning's BitsandbytesPrecision quantizes lm_head like every other nn.Linear, and LitGPT's GPT has
            # its own lm_head even for a tied checkpoint (litgpt/scripts/convert_hf_checkpoint.py copies the
            # embedding into lm_head.weight): the head is a separate 4-bit matrix
            head4 = int(-(-m.vocab_size * m.hidden_size * fmt.linear_bits // 8))
            total += head4 - head
            f = f + size(head4 - head, "lm_head at 4 bit, untied")
            head = head4
            comments.append("lm_head quantized too (Lightning's BitsandbytesPrecision), its own matrix")
        if fmt.id != w.weights:
            comments.append(f"{setup.runtime.label} loads {w.weights} as {fmt.id}")
        extra = extra_weight_bytes(m, fmt)
        loads_extra, why_not = setup.runtime.loads_extra_modules(setup.s)
        if extra and not loads_extra:
            total -= extra
            f = f - size(extra, "modules outside the language model")
            comments.append(why_not)
            extra = 0
        if not setup.training:
            pad, pad_why = setup.runtime.weight_padding_bytes(setup, fmt)
            if pad:
                total += pad
                f = f + size(pad, "alignment padding")
                comments.append(pad_why)
            host, host_why = setup.runtime.host_weight_bytes(setup, fmt)
            if host:
                total -= host
                emb = 0
                f = f - size(host, "in host RAM")
                comments.append(host_why)
    if w.mode == "full":
        extra = extra_weight_bytes(m, setup.weight_format)
    if setup.pp > 1:  # pipeline stages: the embedding on the first, lm_head (or a tied copy) on the last
        body = (total - emb - head) * setup.layer_share
        ends = max(emb, head if head else emb)
        total = int(body + ends)
        f = (f - size(emb + head, "embedding and lm_head")) * q(setup.layer_share, "of the layers") \
            + size(ends, "embedding or lm_head")
        comments.append(f"pipeline stage of {setup.pp}: its layers and the larger end")
    per_gpu = shard = _ceil_div(total, setup.tp)
    if setup.tp > 1:
        f = f / q(setup.tp, "TP")
    if setup.zero >= 3:
        # the layer that runs, gathered whole, and the prefetch of the next, capped by the live limit
        layer = (c.total - c.embedding - c.lm_head) / m.num_hidden_layers
        live = max(layer, min(layer + K.ZERO3_PREFETCH_ELEMS, K.ZERO3_MAX_LIVE_ELEMS,
                              c.total * setup.layer_share))  # no more than this stage holds
        param_bytes = setup.recipe.param_bytes if w.mode == "full" else 2
        gather = int(live * param_bytes / setup.tp)
        shard = _ceil_div(shard, setup.dp)
        per_gpu = shard + gather
        gathered = q(int(live), "gathered params") * q(param_bytes, "B")
        f = f / q(setup.dp, "ZeRO-3 shards") + (gathered / q(setup.tp, "TP") if setup.tp > 1 else gathered)
        comments.append(f"ZeRO-3 gathers the running layer and prefetches {K.ZERO3_PREFETCH_ELEMS:,} more elements, "
                        f"at most {K.ZERO3_MAX_LIVE_ELEMS:,} live (DeepSpeed's defaults)")
    if w.mode == "full" and setup.recipe.autocast_cache:
        ways = setup.tp * (setup.dp if setup.zero >= 3 else 1)
        per_gpu += _ceil_div(c.total * 2, ways)
        cache = q(c.total, "params") * q(2, "B bf16 copies")
        f = f + (cache / q(ways, "shards") if ways > 1 else cache)
        comments.append("autocast's weight cache holds bf16 copies during forward")
    return Weights(per_gpu, explain(f, *comments), tuple(notes), shard=shard, extra=_ceil_div(extra, setup.tp))




class KVLayout(NamedTuple):
    """What the KV cache's size reads of the model, its formats and the parallelism, and not of context
    or batch; the fit solvers make it once per GPU key and pass it to ``kv_cache``."""

    per_tok_layer: int  # elements per token per layer
    how: str  # where that count comes from, when it is not K and V of every KV head
    mla_runtime: bool  # the runtime caches MLA its own way (``Runtime.mla_cache``), not as the latent
    shard: int  # tensor-parallel ranks that split the cache (1: replicated)
    full: int  # layers that cache every token
    windowed: int  # sliding-window layers
    linear: int  # linear-attention / SSM layers: a fixed state per sequence instead
    per_token: int  # bytes per token of one sequence on this GPU, all its layers (vLLM capacity uses it)


def kv_layout(setup: Setup) -> KVLayout:
    """The KV cache's layout on this setup: its own function so the fit solvers can make it once per
    GPU key (tests/test_fit_cache.py checks it reads neither context nor batch)."""
    m, rt = setup.spec, setup.runtime
    mla = rt.mla_cache(setup) if m.is_mla else None
    if mla is not None:
        per_tok_layer, how = mla
        shard = 1
    elif m.is_mla:
        per_tok_layer = m.kv_cache_elems_per_token_layer
        shard = 1  # the compressed latent is replicated on every tensor-parallel rank (vLLM MLA)
        how = "MLA caches its latent: kv_lora_rank + rope dim"
    else:
        per_tok_layer = m.kv_cache_elems_per_token_layer
        shard = min(setup.tp, m.kv_heads)  # more TP ranks than KV heads replicate heads
        how = ""
    windowed, linear = m.windowed_layers, m.linear_attention_layers
    per_token = int(per_tok_layer * (m.num_hidden_layers - linear) * setup.layer_share / shard
                    * setup.kv_format.bytes_per_elem)
    return KVLayout(per_tok_layer, how, mla is not None, shard, m.num_hidden_layers - windowed - linear,
                    windowed, linear, per_token)


def kv_cache(setup: Setup, layout: KVLayout | None = None) -> KVCache:
    """``layout``: ``kv_layout(setup)`` when the caller has it (the fit solvers, once per GPU key)."""
    if setup.training:
        return KVCache(0, "training runs with use_cache=False: no KV cache is kept")
    m, rt = setup.spec, setup.runtime
    fmt = setup.kv_format
    tokens, batch = setup.kv_tokens, setup.batch
    lay = layout if layout is not None else kv_layout(setup)
    per_tok_layer, shard, windowed, linear, full = lay.per_tok_layer, lay.shard, lay.windowed, lay.linear, lay.full
    win_cells, win_why = rt.window_cells(setup, tokens, batch) if windowed else (None, "")
    if win_cells is None:  # no window, or the runtime does not honour it
        win_cells = tokens * batch
    cells = full * tokens * batch + windowed * win_cells  # layer-cells over all layers and sequences
    per_gpu = cells * per_tok_layer * setup.layer_share / shard
    # hybrid models: a linear-attention / SSM layer keeps a fixed-size state per sequence, not a cache
    state = linear * m.linear_state_elems * batch * rt.recurrent_state_bytes * setup.layer_share / setup.tp
    total = int(math.ceil(per_gpu * fmt.bytes_per_elem + state))
    if not explaining():  # the fit solvers: the bytes alone
        return KVCache(total, per_token=lay.per_token)
    if lay.mla_runtime:
        elems = q(per_tok_layer, "elements per token per layer")
    elif m.is_mla:
        elems = q(m.kv_lora_rank or 0, "latent") + q(m.qk_rope_head_dim or 0, "rope dims")
    else:
        elems = q(2, "K and V") * q(m.kv_heads, "kv heads") * q(m.head_size, "head dim")
    comments = [lay.how, fmt.label]
    f_cells = q(full, "layers") * q(tokens, "tokens") * q(batch, "sequences")
    if windowed:
        f_cells = f_cells + q(windowed, "window layers") * q(win_cells, "cells")
        comments.append(f"{windowed} layers: {win_why}")
    f = elems * f_cells
    if setup.pp > 1:
        f = f * q(setup.layer_share, "of the layers")
    if shard > 1:
        f = f / q(shard, "TP")
    f = f * q(fmt.bytes_per_elem, "B")
    if tokens != setup.context:
        comments.append(f"context rounded up to {setup.kv_block}-token blocks")
    if linear:
        f_state = q(linear, "linear-attention layers") * q(m.linear_state_elems, "state elements") * q(
            batch, "sequences") * q(rt.recurrent_state_bytes, "B")
        if setup.pp > 1:
            f_state = f_state * q(setup.layer_share, "of the layers")
        if setup.tp > 1:
            f_state = f_state / q(setup.tp, "TP")
        f = f + f_state
        comments.append("linear-attention layers keep a fixed state per sequence instead of a cache")
    return KVCache(total, explain(f, *comments), per_token=lay.per_token)


def quantized_head(setup: Setup) -> bool:
    """QLoRA on bitsandbytes 4-bit layers with lm_head quantized too (optimizations.quantized_lm_head)."""
    return setup.w.mode == "qlora" and setup.o.quantized_lm_head and setup.weight_format.id in K.BNB_4BIT


def training_activations(setup: Setup) -> Activations:
    m, w, o = setup.spec, setup.w, setup.o
    h, qd, kv = m.hidden_size, m.q_dim, m.kv_heads * m.head_size
    inter, router = m.mlp_width
    heads = m.num_attention_heads
    batch, ctx = setup.batch, setup.context
    tokens = batch * ctx
    scale = setup.act_bytes / 2
    flash = setup.flash_attention
    # HF Llama-style layer in bf16 with SDPA: the bytes per token autograd saves for backward, exactly as
    # scripts/trace_memory.py records them (validation/traces/cpu-trace.json; tests/test_traces.py): the
    # fp32 residual inputs and rstd of both norms, their bf16 casts and outputs, q/k/v after RoPE, the
    # attention output and its fp32 log-sum-exp per head, the MLP's gate/up/act products
    per_tok = 16 * h + 4 * qd + (8 if m.mlp_gated else 4) * inter + 4 * kv + 4 * heads + 8 + 4 * router
    if not setup.flash_attention:
        # eager attention saves K and V repeated to every query head and no log-sum-exp (same trace)
        per_tok += 4 * (qd - kv) - 4 * heads
    if w.mode in ("lora", "qlora"):
        # frozen matrices and norms save nothing for their own weights (same trace, r and targets
        # varied): 8 B x hidden and 2 B x MLP width less per token; peft adds an fp32 copy of each
        # adapted matrix's input and its rank-r product
        per_tok -= 8 * h + 2 * inter
        per_tok += sum(4 * i + 4 * o.lora_rank for i, _ in lora_matrices(setup))
    legacy_bnb = w.mode == "qlora" and o.legacy_bnb and setup.weight_format.id in K.BNB_4BIT
    if legacy_bnb:
        # bitsandbytes 0.41.0-0.43.1's MatMul4Bit keeps ``ctx.tensors = (A, B)`` whenever A needs a gradient
        # (bitsandbytes/autograd/_functions.py @ 0.42.0 lines 522-523), frozen weight or not; 0.43.2 keeps
        # (None, B) (commit 9e75374, #1270). So each 4-bit layer's input stays alive: the two norms'
        # outputs (q/k/v and gate/up share one each) and the MLP product; o_proj's input, the attention
        # output, is kept anyway. scripts/trace_memory.py's stand-in for that MatMul4Bit records exactly
        # 4 B x hidden + 2 B x MLP width more per token per layer (validation/traces: qlora-bnb041-*)
        per_tok += 4 * h + 2 * inter
    per_tok = int(per_tok * scale)
    seq2 = 0 if flash else batch * heads * ctx ** 2
    layers = m.num_hidden_layers
    # TP splits a layer's activations over t GPUs but for the norms' and blocks' inputs, which every
    # GPU keeps unless sequence parallelism splits them too (constants.TP_REPLICATED_ACT_BYTES)
    tp, split_all = setup.tp, setup.tp == 1 or o.sequence_parallel
    whole = 0 if split_all else min(per_tok, int(K.TP_REPLICATED_ACT_BYTES * h * scale))
    layer_tok = whole + (per_tok - whole) / tp  # one layer's saved bytes per token on one GPU
    # stored: what every layer keeps for backward, as Korthikanti et al.'s Table 2 counts it;
    # transient: what the one layer that backward is working on adds
    kept, kept_label = layers, "layers"
    offloaded = o.activation_offloading and layers > K.OFFLOAD_GPU_LAYERS
    if offloaded:
        # what the layers save waits in host RAM; the GPU holds the layers being sent and brought back
        kept, kept_label = K.OFFLOAD_GPU_LAYERS, "layers on the GPU"
    # QLoRA with the fp32 upcast: the embeddings' fp32 output makes the residual stream fp32
    input_b = 4 if setup.kbit_fp32 else setup.act_bytes
    if setup.gradient_checkpointing:
        # full recomputation stores each layer's input, 2 B x h per token (Table 2's "sbh(2)"),
        # and rebuilds one layer's activations at a time
        stored = kept * tokens * h * input_b / (tp if split_all else 1)
        transient = tokens * layer_tok + seq2 * K.EAGER_TRAIN_SCORE_BYTES / tp
    else:
        stored = kept * (tokens * layer_tok + seq2 * K.EAGER_SAVED_SCORE_BYTES / tp)
        transient = seq2 * (K.EAGER_TRAIN_SCORE_BYTES - K.EAGER_SAVED_SCORE_BYTES) / tp
    per_logit = K.LOSS_LOGIT_BYTES[o.loss]
    fp32_logits = setup.kbit_fp32 and o.loss != "chunked"  # an fp32 lm_head gives fp32 logits, whatever the loss does
    if fp32_logits:
        per_logit = max(per_logit, K.LOSS_LOGIT_BYTES["fp32-logits"])
    if o.loss == "chunked":
        chunk = 1 << max(0, math.ceil(tokens / math.ceil(m.vocab_size / h)) - 1).bit_length()
        loss_tokens = min(tokens, chunk)
    else:
        loss_tokens = tokens
    logits = loss_tokens * m.vocab_size * per_logit
    qhead = quantized_head(setup)
    head_moment = 0
    if qhead:
        # lm_head's backward dequantizes its 4-bit weight to fp16 and casts that to bf16 (constants.
        # BNB_HEAD_DEQUANT_BYTES) beside the logits and their gradient; the loss's moment or this one, the larger
        head_logit_b = 2 * K.HEAD_BACKWARD_LOGIT_BYTES if fp32_logits else K.HEAD_BACKWARD_LOGIT_BYTES
        head_moment = loss_tokens * m.vocab_size * head_logit_b + K.BNB_HEAD_DEQUANT_BYTES * m.vocab_size * h
        logits = max(logits, head_moment)
    total = int(stored + transient + logits)
    if not explaining():  # the fit solvers: the bytes alone
        return Activations(total, saved=int(stored))

    # the formula of the same sums, and what is not arithmetic
    f_seq2 = q(batch, "sequences") * q(heads, "heads") * q(ctx, "tokens") * q(ctx, "tokens")
    f_tok = q(per_tok, "B per token per layer")
    if tp > 1:
        f_tok = f_tok / q(tp, "TP") if split_all else (
            q(whole, "B kept whole") + (f_tok - q(whole, "B")) / q(tp, "TP"))

    def on_one(term: Term) -> Term:
        return term / q(tp, "TP") if tp > 1 else term

    comments = []
    if offloaded:
        comments.append(f"activation offloading: the other {layers - kept} layers' saved tensors wait in host RAM "
                        "(torchtune's OffloadActivations)")
    if setup.gradient_checkpointing:
        f_stored = q(kept, kept_label) * q(tokens, "tokens") * q(h, "hidden") * q(input_b, "B")
        if split_all:
            f_stored = on_one(f_stored)
        f = f_stored + q(tokens, "tokens") * f_tok
        if not flash:
            f = f + on_one(f_seq2 * q(K.EAGER_TRAIN_SCORE_BYTES, "B scores"))
        comments.append("checkpointing keeps each layer's input and recomputes one layer at a time")
    else:
        f_layer = q(tokens, "tokens") * f_tok
        if not flash:
            f_layer = f_layer + on_one(f_seq2 * q(K.EAGER_SAVED_SCORE_BYTES, "B saved scores"))
        f = q(kept, kept_label) * f_layer
        if not flash:
            f = f + on_one(f_seq2 * q(K.EAGER_TRAIN_SCORE_BYTES - K.EAGER_SAVED_SCORE_BYTES, "B transient scores"))
        comments.append("what every layer saves for backward")
    if tp > 1 and not split_all:
        comments.append("norm and block inputs are kept whole on every GPU without sequence parallelism")
    if legacy_bnb:
        comments.append("bitsandbytes < 0.43.2: each 4-bit layer keeps its input for backward")
    if fp32_logits:
        comments.append("the fp32 lm_head of prepare_model_for_kbit_training makes the logits fp32")
    if o.loss == "chunked":
        comments.append("fused cross-entropy works on one chunk of tokens at a time")
    else:
        comments.append(f"loss {o.loss}: logits, log-probs and their gradient")
    if qhead and head_moment > loss_tokens * m.vocab_size * per_logit:
        comments.append("lm_head's backward: the logits and their gradient beside its fp16 and bf16 dequantized copies")
        f = f + q(loss_tokens, "loss tokens") * q(m.vocab_size, "vocab") * q(head_logit_b, "B") \
            + q(m.vocab_size * h, "lm_head params") * q(K.BNB_HEAD_DEQUANT_BYTES, "B dequantized")
    else:
        f = f + q(loss_tokens, "loss tokens") * q(m.vocab_size, "vocab") * q(per_logit, "B")
    return Activations(total, explain(f, *comments), saved=int(stored))


def training_states(setup: Setup) -> States:
    """Per GPU: gradients, persistent optimizer states (+ master), the step's temporary, adapters."""
    m, w, o = setup.spec, setup.w, setup.o
    opt, recipe = o.optimizer, setup.recipe
    if w.mode == "full":
        trainable = setup.counts.total
        grad_b = recipe.grad_bytes
        state_b: float = K.OPTIMIZER_STATE_BYTES[opt][recipe.states]
        master = recipe.master_bytes
    else:
        trainable = lora_params(setup)
        grad_b, state_b, master = 4, K.OPTIMIZER_STATE_BYTES[opt]["fp32"], 0  # peft adapters are fp32
    if opt == "adafactor":
        # factored second moment: (rows + cols) fp32 values per h×x matrix = 4/x + 4/h ≤ 8/h B/param
        state_b = 8 / m.hidden_size
    zero, dp = setup.zero, setup.dp
    temp_b = K.FOREACH_TEMP_STATES[opt] * (state_b / max(1, K.OPTIMIZER_STATES[opt])) if zero == 0 else 0
    params_here = trainable * setup.layer_share / setup.tp
    grads = params_here * grad_b
    states = params_here * (state_b + master)
    temp = params_here * temp_b
    head = (setup.counts.lm_head or setup.counts.embedding) * grad_b / setup.tp if w.mode == "full" else grads
    adapters = params_here * 4 if w.mode in ("lora", "qlora") else 0
    f_params = q(trainable, "trainable params")
    if setup.pp > 1:
        f_params = f_params * q(setup.layer_share, "of the layers")
    if setup.tp > 1:
        f_params = f_params / q(setup.tp, "TP")
    f_head = q(setup.counts.lm_head or setup.counts.embedding, "lm_head params") * q(grad_b, "B")
    if setup.tp > 1:
        f_head = f_head / q(setup.tp, "TP")
    f_grads = f_params * q(grad_b, "B")
    b_states = q(state_b, f"B {opt} states") + q(master, "B fp32 master") if master else q(state_b, f"B {opt} states")
    f_states = f_params * b_states
    f_step = f_params * (b_states + q(temp_b, "B step temporary")) if temp_b else f_states
    f_adapters = f_params * q(4, "B fp32")
    if zero >= 1:
        states /= dp
        temp /= dp
        f_states, f_step = f_states / q(dp, f"ZeRO-{zero}"), f_step / q(dp, f"ZeRO-{zero}")
    if zero >= 2:
        grads /= dp
        head /= dp
        f_grads, f_head = f_grads / q(dp, f"ZeRO-{zero}"), f_head / q(dp, f"ZeRO-{zero}")
    if zero >= 3:
        adapters /= dp  # ZeRO-3 / FSDP shards the trainable adapter weights too
        f_adapters = f_adapters / q(dp, "ZeRO-3")
    notes: list[str] = []
    how = {"gradients": f_grads.text, "optimizer_states": f_states.text, "step": f_step.text,
           "head_gradients": (f_head if head < grads else f_grads).text}
    if o.cpu_offload and w.mode == "full":
        states = temp = 0
        how["optimizer_states"] = how["step"] = "0 B on the GPU: the optimizer states are in host RAM"
        if zero >= 2:
            grads = head = 0
            how["gradients"] = how["head_gradients"] = "0 B on the GPU: the sharded gradients are in host RAM"
        notes.append("CPU offload keeps optimizer states (and sharded gradients) in host RAM")
    if adapters:
        how["adapters"] = explain(f_adapters, f"LoRA r={o.lora_rank} on {', '.join(o.lora_targets)}, kept in fp32")
    return States(int(grads), int(states), int(temp), int(adapters), int(min(head, grads)), trainable, how, tuple(notes))


def training_peak(act: Activations, st: States, in_backward: bool = False,
                  accumulating: bool = False) -> tuple[dict[str, int], dict[str, str], str]:
    """The components resident at the training step's peak, the arithmetic of each, and which moment it is.

    Saved activations and parameter gradients never coexist in full: backward frees each layer's
    activations as it allocates that layer's gradients (zero_grad(set_to_none=True), no gradient
    accumulation), so the peak is the larger of two moments: the start of backward (all
    activations + the loss logits + lm_head's gradient) and the optimizer step (all gradients +
    the step's temporary). Checked against PEFT's full fine-tuning run of Llama-3.2-3B
    (validation/points/vllm_hf.toml), where summing both overestimated by 40 %.
    """
    backward = act.bytes + st.head_gradients
    step = st.gradients + st.temp
    if accumulating and not in_backward:
        # gradient accumulation: the micro-batches after the first start backward with every gradient
        # already there (zero_grad runs only after the optimizer step: litgpt/finetune/full.py @ 00af8b0
        # lines 253-264, ``if not is_accumulating: optimizer.step(); optimizer.zero_grad()``)
        backward = act.bytes + st.gradients
        if backward >= step:
            return ({"activations": act.bytes, "gradients": st.gradients, "optimizer_states": st.states},
                    {"gradients": explain(st.how["gradients"], "gradient accumulation: the earlier micro-batches' "
                                          "gradients are all there when the next backward starts"),
                     "optimizer_states": st.how["optimizer_states"]},
                    "peak at the start of a later micro-batch's backward: every gradient is kept between "
                    f"micro-batches, and the optimizer step needs less ({(step - backward) / GiB:+.2f} GiB)")
    if in_backward:
        # the optimizer steps each parameter inside backward and frees its gradient at once (torchtune's
        # optimizer_in_bwd; PyTorch's "optimizer_step_in_backward" tutorial): no moment holds them all,
        # and the largest one alive is lm_head's, with its share of the step's temporary
        head_temp = int(st.temp * st.head_gradients / st.gradients) if st.gradients else 0
        return ({"activations": act.bytes, "gradients": st.head_gradients, "optimizer_states": st.states + head_temp},
                {"gradients": explain(st.how["head_gradients"], "optimizer in backward: each gradient is freed as "
                                      "soon as its parameter is stepped; lm_head's is the largest alive"),
                 "optimizer_states": explain(f"{st.how['optimizer_states']} + {head_temp / GiB:,.3f} GiB",
                                             "lm_head's share of the step's temporary")},
                f"optimizer in backward: the {st.gradients / GiB:.2f} GiB of gradients never exist at once")
    if backward >= step:
        return ({"activations": act.bytes, "gradients": st.head_gradients, "optimizer_states": st.states},
                {"gradients": explain(st.how["head_gradients"], "only lm_head's gradients exist at the start "
                                           "of backward; the rest replace activations as backward frees them"),
                 "optimizer_states": st.how["optimizer_states"]},
                f"peak at the start of backward; the {st.gradients / GiB:.2f} GiB of gradients are allocated as "
                f"activations are freed, and the optimizer step needs less ({(step - backward) / GiB:+.2f} GiB)")
    return ({"activations": 0, "gradients": st.gradients, "optimizer_states": st.states + st.temp},
            {"activations": explain("0 B at the optimizer step", f"backward freed them; at its start: {act.why}"),
             "gradients": st.how["gradients"],
             "optimizer_states": explain(st.how["step"], "the step's temporary included")},
            f"peak at the optimizer step (gradients + step temporary); the {act.bytes / GiB:.2f} GiB of activations "
            "are freed by then")

