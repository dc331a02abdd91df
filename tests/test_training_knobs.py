"""Training knobs people use, each checked against a published measurement or the tracer.

QLoRA's fp32 upcast (PEFT's prepare_model_for_kbit_training): the universal-llm-trainer and
fms-acceleration runs quote it in their notes (embeddings, lm_head and norms cast to fp32); with the
upcast the estimate must be closer to most of them than without, and its median within the target.
"""

from __future__ import annotations

import math
import statistics

from vramtui.cli import main
from vramtui.core.methods import estimate
from vramtui.core.validation import compare, load_points

from .builders import make


def _qlora_points():
    """The bitsandbytes QLoRA runs whose notes quote the call, and that the point does not turn off (LitGPT's
    loop and fms-acceleration's own bnb plugin skip it: their points say kbit_upcast = false)."""
    return [p for p in load_points()
            if p.mode == "qlora" and "prepare_model_for_kbit_training" in p.notes and p.kbit_upcast is not False]


def test_the_kbit_upcast_brings_the_published_qlora_runs_closer():
    points = _qlora_points()
    assert len(points) >= 4 and len({p.model for p in points}) >= 4
    on, off = [], []
    for p in points:
        s = p.scenario()
        without = s.model_copy(update={"optimizations": s.optimizations.model_copy(update={"kbit_upcast": False})})
        on.append(abs(compare(p).total.error))
        off.append(abs(compare(p, scenario=without).total.error))
    assert statistics.median(on) <= 0.08 < statistics.median(off)
    # most runs move closer; Gemma 7B was over already, and fms-acceleration's Mistral b4 sits +12 % either way
    assert sum(a < b for a, b in zip(on, off, strict=True)) >= 0.75 * len(points)


def test_the_upcast_adds_fp32_embeddings_lm_head_and_norms_and_an_fp32_residual():
    base = dict(mode="qlora", weights="nf4", gradient_checkpointing=True, batch_size=2, context_length=4096)
    on, off = (estimate(make("llama-3.1-8b", **base, kbit_upcast=v), "precise") for v in (True, False))
    c = make("llama-3.1-8b").model.spec.counts()
    assert on.per_gpu["weights"] - off.per_gpu["weights"] == (c.total - c.linear) * 2  # 2 B more each
    # checkpointed layer inputs in fp32: 2 B more per hidden element, 32 layers x 8,192 tokens
    assert on.saved_activations_per_gpu - off.saved_activations_per_gpu == 32 * 8192 * 4096 * 2
    assert "prepare_model_for_kbit_training" in on.why["weights"]


def test_the_cli_flag_and_the_runtime_default(capsys):
    import json

    assert main(["estimate", "--model", "llama-3.1-8b", "--mode", "qlora", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["resolved"]["kbit_upcast"]["value"] is True and "prepare_model_for_kbit_training" in d["resolved"]["kbit_upcast"]["why"]
    assert main(["estimate", "--model", "llama-3.1-8b", "--mode", "qlora", "--no-kbit-upcast", "--json"]) == 0
    off = json.loads(capsys.readouterr().out)
    assert off["resolved"]["kbit_upcast"]["value"] is False and off["per_gpu_bytes"] < d["per_gpu_bytes"]
    assert main(["estimate", "--model", "llama-3.1-8b", "--kbit-upcast"]) == 0  # inference: said, not applied
    assert "QLoRA only" in capsys.readouterr().err


def _bnb_version(notes: str) -> tuple[int, ...] | None:
    import re

    found = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"[Bb]itsandbytes (\d+\.\d+\.\d+)", notes)}
    assert len(found) <= 1, found  # one version per run
    return found.pop() if found else None


def test_the_points_on_bitsandbytes_before_0432_say_so():
    """optimizations.legacy_bnb follows the bitsandbytes version a QLoRA point's notes give: MatMul4Bit kept
    its input up to 0.43.1 (commit 9e75374, first in 0.43.2). Its size comes from the tracer
    (tests/test_traces.py), not from these points, which stay out of sample."""
    qlora = [p for p in load_points() if p.mode == "qlora" and p.weights in ("nf4", "nf4-dq")]
    legacy = [p for p in qlora if (v := _bnb_version(p.notes)) is not None and v < (0, 43, 2)]
    newer = [p for p in qlora if (v := _bnb_version(p.notes)) is not None and v >= (0, 43, 2)]
    assert len(legacy) >= 7 and len(newer) >= 7
    assert all(p.legacy_bnb for p in legacy) and not any(p.legacy_bnb for p in newer)
    assert all(p.legacy_bnb is None for p in load_points() if p not in legacy)


def test_legacy_bitsandbytes_keeps_the_4bit_layers_inputs_and_the_cli_flag(capsys):
    import json

    base = dict(mode="qlora", weights="nf4", gradient_checkpointing=False, batch_size=1, context_length=1304,
                kbit_upcast=False)
    on, off = (estimate(make("llama-2-7b", **base, legacy_bnb=v), "precise") for v in (True, False))
    # the two norms' outputs and the MLP product, bf16: 2 x (2 x 4,096 + 11,008) B, 32 layers x 1,304 tokens
    assert on.saved_activations_per_gpu - off.saved_activations_per_gpu == 32 * 1304 * 2 * (2 * 4096 + 11008)
    assert "bitsandbytes < 0.43.2" in on.why["activations"]
    gc = {**base, "gradient_checkpointing": True}  # only the recomputed layer keeps them
    on, off = (estimate(make("llama-2-7b", **gc, legacy_bnb=v), "precise") for v in (True, False))
    assert on.saved_activations_per_gpu == off.saved_activations_per_gpu
    assert on.per_gpu["activations"] - off.per_gpu["activations"] == 1304 * 2 * (2 * 4096 + 11008)
    args = ["estimate", "--model", "llama-2-7b", "--mode", "qlora", "--weights", "nf4", "--json"]
    runs = []
    for extra in ([], ["--legacy-bnb"]):
        assert main([*args, *extra]) == 0
        runs.append(json.loads(capsys.readouterr().out)["per_gpu_bytes"])
    assert runs[1] > runs[0]
    assert main(["estimate", "--model", "llama-2-7b", "--mode", "lora", "--legacy-bnb"]) == 0  # said, not applied
    assert "bitsandbytes 4-bit" in capsys.readouterr().err


def test_a_quantized_lm_head_is_4bit_untied_and_dequantized_twice_in_backward(capsys):
    """optimizations.quantized_lm_head (Lightning's BitsandbytesPrecision quantizes lm_head like every
    nn.Linear; bitsandbytes' MatMul4Bit.backward casts its fp16 dequant to bf16): the head's weights at
    NF4's 4.5 bits, its own matrix even for a tied checkpoint, and the larger of the loss's moment and lm_head's
    backward (bf16 logits + their gradient, 4 B per logit, beside 2 + 2 B per head weight)."""
    from vramtui.core import constants as K

    base = dict(mode="qlora", weights="nf4", gradient_checkpointing=False, batch_size=2, context_length=512,
                kbit_upcast=False, loss="bf16-logits")
    on, off = (estimate(make("gemma-2b", **base, quantized_lm_head=v), "precise") for v in (True, False))
    spec = make("gemma-2b").model.spec
    vh, tokens = spec.vocab_size * spec.hidden_size, 2 * 512
    assert spec.tie_word_embeddings  # LitGPT gives the tied checkpoint its own (4-bit) lm_head
    assert on.per_gpu["weights"] - off.per_gpu["weights"] == math.ceil(vh * 4.5 / 8)
    head = tokens * spec.vocab_size * K.HEAD_BACKWARD_LOGIT_BYTES + K.BNB_HEAD_DEQUANT_BYTES * vh
    assert head > tokens * spec.vocab_size * 6  # Gemma's 256k x 2,048 head: lm_head's backward is the larger
    assert on.per_gpu["activations"] - off.per_gpu["activations"] == head - tokens * spec.vocab_size * 6
    assert "dequantized" in on.why["activations"]
    untied = dict(base, batch_size=1, context_length=1304)  # Llama 2: the 16-bit head becomes 4-bit
    on, off = (estimate(make("llama-2-7b", **untied, quantized_lm_head=v), "precise") for v in (True, False))
    vh = 32000 * 4096
    assert off.per_gpu["weights"] - on.per_gpu["weights"] == vh * 2 - math.ceil(vh * 4.5 / 8)
    assert main(["estimate", "--model", "llama-2-7b", "--mode", "lora", "--quantized-lm-head"]) == 0  # said, not applied
    assert "bitsandbytes 4-bit" in capsys.readouterr().err


def test_the_litgpt_qlora_points_quantize_lm_head():
    """LitGPT's QLoRA points build Lightning's BitsandbytesPrecision without ignore_modules (their notes say
    so), so each sets quantized_lm_head; no other point does."""
    lit = [p for p in load_points() if p.id.startswith("litgpt-") and p.mode == "qlora"]
    assert len(lit) >= 7 and all(p.quantized_lm_head for p in lit)
    assert all("BitsandbytesPrecision" in p.notes for p in lit)
    assert all(p.quantized_lm_head is None for p in load_points() if p not in lit)


def test_an_untied_lm_head_is_its_own_matrix_and_trained_in_full_fine_tuning(capsys):
    """optimizations.untied_lm_head (LitGPT's GPT always builds lm_head; convert_hf_checkpoint.py copies a tied
    embedding into it): LoRA holds one more 16-bit vocab x hidden matrix; a full fine-tune also trains it."""
    spec = make("gemma-2b").model.spec
    vh = spec.vocab_size * spec.hidden_size
    lora = dict(mode="lora", weights="bf16", batch_size=2, context_length=512, lora_targets=["all-linear"])
    on, off = (estimate(make("gemma-2b", **lora, untied_lm_head=v), "precise") for v in (True, False))
    assert on.per_gpu["weights"] - off.per_gpu["weights"] == vh * 2
    assert "its own matrix" in on.why["weights"]
    full = dict(mode="full", recipe="bf16-pure", batch_size=1, context_length=512, gradient_accumulation=True)
    on, off = (estimate(make("gemma-2b", **full, untied_lm_head=v), "precise") for v in (True, False))
    assert on.per_gpu["weights"] - off.per_gpu["weights"] == vh * 2
    assert on.per_gpu["gradients"] - off.per_gpu["gradients"] == vh * 2
    untied = make("llama-2-7b", **lora)  # already its own matrix: nothing changes
    same = make("llama-2-7b", **lora, untied_lm_head=True)
    assert estimate(untied, "precise").per_gpu_bytes == estimate(same, "precise").per_gpu_bytes
    lit = [p for p in load_points() if p.id.startswith("litgpt-")]
    assert len(lit) >= 16 and all(p.untied_lm_head for p in lit)
    assert all(p.untied_lm_head is None for p in load_points() if p not in lit)
    assert main(["estimate", "--model", "gemma-2b", "--untied-lm-head"]) == 0  # inference: said, not applied
    assert "training" in capsys.readouterr().err


def test_gradient_accumulation_keeps_every_gradient_through_backward(capsys):
    """optimizations.gradient_accumulation: zero_grad runs after the optimizer step only, so a later
    micro-batch's backward starts with every gradient there (LitGPT's full.py: global 32 / micro 4)."""
    base = dict(mode="full", recipe="bf16-pure", batch_size=4, context_length=512, gradient_checkpointing=False,
                loss="bf16-logits")
    on, off = (estimate(make("tinyllama-1.1b", **base, gradient_accumulation=v), "precise") for v in (True, False))
    c = make("tinyllama-1.1b").model.spec.counts()
    assert on.per_gpu["gradients"] == c.total * 2  # all bf16 gradients beside the activations
    assert off.per_gpu["gradients"] == c.lm_head * 2  # lm_head's only, at the start of backward
    assert on.per_gpu["activations"] == off.per_gpu["activations"]
    assert any("micro-batch" in n for n in on.notes)
    assert main(["estimate", "--model", "llama-2-7b", "--gradient-accumulation"]) == 0  # inference: said, not applied
    assert "training" in capsys.readouterr().err


def test_zero3_gathers_the_running_layer_and_deepspeeds_default_prefetch():
    """DeepSpeed's defaults: prefetch 5e7 elements beyond the running layer, at most 1e9 live."""
    from vramtui.core import constants as K
    from vramtui.core.plan import plan
    from vramtui.core.presets import gpu

    lives = {}
    for model, tp in (("llama-3.1-8b", 1), ("llama-3.1-8b", 2), ("llama-3.1-70b", 1), ("llama-3.1-405b", 1)):
        s = make(model, mode="full", recipe="bf16-pure", data_parallel=8, zero_stage=3, tensor_parallel=tp)
        e = estimate(s, "precise")
        c = s.model.spec.counts()
        layer = (c.total - c.embedding - c.lm_head) / s.model.spec.num_hidden_layers
        live = max(layer, min(layer + K.ZERO3_PREFETCH_ELEMS, K.ZERO3_MAX_LIVE_ELEMS))
        shard = math.ceil(math.ceil(c.total * 2 / tp) / 8)  # the weights' own shard, ceil-divided twice
        assert e.per_gpu["weights"] == shard + int(live * 2 / tp)
        lives[model] = (layer, live)
    layer, live = lives["llama-3.1-70b"]
    assert live == layer + K.ZERO3_PREFETCH_ELEMS < K.ZERO3_MAX_LIVE_ELEMS  # 0.86B + 5e7 stays under 1e9
    layer, live = lives["llama-3.1-405b"]
    assert live == layer > K.ZERO3_MAX_LIVE_ELEMS  # a 3.2B layer runs whole; nothing more is prefetched
    p = plan(make("llama-3.1-8b", mode="full", context_length=2048, gradient_checkpointing=True), [gpu("rtx-4090")])
    ds = p.files["ds_config.json"]
    assert '"stage"' in ds
    assert "stage3_prefetch_bucket_size" not in ds and "stage3_max_live_parameters" not in ds  # the defaults apply


def test_optimizer_in_backward_matches_the_traced_step():
    """scripts/trace_memory.py runs one bf16 AdamW step of its base config with the optimizer after
    backward and inside it (post-accumulate-grad hooks): the estimate's bytes beyond the weights and
    the states must be those peaks (exactly after; within 10 % inside, where it counts lm_head's share)."""
    from vramtui.core import components as C
    from vramtui.core.presets import gpu
    from vramtui.core.setup import Setup

    from .test_traces import TRACE, scenario

    traced = TRACE["step_peak_bytes"]
    for inside, key in ((False, "after_backward"), (True, "in_backward")):
        s = scenario(TRACE["configs"]["base"], "full", True, seq=traced["seq"])
        s = s.model_copy(update={"workload": s.workload.model_copy(update={"batch_size": 1}),
                                 "optimizations": s.optimizations.model_copy(update={"optimizer_in_backward": inside})})
        e = estimate(s, "precise")
        states = C.training_states(Setup(s, gpu(s.hardware.verdict_gpu))).states
        beyond = e.per_gpu["activations"] + e.per_gpu["gradients"] + e.per_gpu["optimizer_states"] - states
        assert abs(beyond - traced[key]) <= (0 if not inside else 0.1) * traced[key], (key, beyond, traced[key])
    assert traced["in_backward"] < traced["after_backward"] / 5


def test_optimizer_in_backward_frees_the_gradients_and_is_off_under_zero(capsys):
    base = dict(mode="full", recipe="bf16-pure", context_length=2048)
    off, on = (estimate(make("llama-3.1-8b", **base, optimizer_in_backward=v), "precise") for v in (False, True))
    assert on.per_gpu["gradients"] < off.per_gpu["gradients"] / 10 and on.per_gpu_bytes < off.per_gpu_bytes
    assert any("never exist at once" in n for n in on.notes)
    assert main(["estimate", "--model", "llama-3.1-8b", "--mode", "full", "--dp", "4", "--zero", "2",
                 "--optimizer-in-backward"]) == 0
    assert "without ZeRO" in capsys.readouterr().err  # DeepSpeed steps after backward: said, not applied


def test_activation_offloading_keeps_two_layers_of_saved_activations_on_the_gpu():
    base = dict(mode="lora", context_length=16384, batch_size=2, gradient_checkpointing=True)
    off, on = (estimate(make("llama-3.1-8b", **base, activation_offloading=v), "precise") for v in (False, True))
    assert on.saved_activations_per_gpu * 32 == off.saved_activations_per_gpu * 2
    assert on.per_gpu["activations"] < off.per_gpu["activations"]
    assert "host RAM" in on.why["activations"]
