"""The training activation constants against what PyTorch records (scripts/trace_memory.py).

``validation/traces/cpu-trace.json`` is that script's output: for five small Llama configurations,
full fine-tuning and LoRA, SDPA and eager attention, the bytes autograd saves per decoder layer, the
eager attention's bytes per score at the peak and the optimizer step's temporary. The estimator must
give the same bytes, configuration by configuration. The last test reruns the tracer (torch needed:
``make test-measure``) so the recorded file cannot drift from what the script measures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vramtui.core import constants as K
from vramtui.core.hfconfig import spec_from_config
from vramtui.core.io import default_scenario
from vramtui.core.methods import estimate
from vramtui.core.scenario import ModelChoice, Scenario

ROOT = Path(__file__).resolve().parents[1]
TRACE = json.loads((ROOT / "validation" / "traces" / "cpu-trace.json").read_text())
TOKENS = TRACE["tokens"]
TARGETS = {"lora-qv": ["q_proj", "v_proj"],
           "lora-all": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
# QLoRA on bitsandbytes < 0.43.2 (optimizations.legacy_bnb): the tracer's stand-in for that MatMul4Bit
# keeps each frozen layer's input, as bitsandbytes 0.41.0-0.43.1 does
LEGACY_BNB = "qlora-bnb041-"
TARGETS |= {LEGACY_BNB + "qv": TARGETS["lora-qv"], LEGACY_BNB + "all": TARGETS["lora-all"]}


def scenario(config: dict, mode: str, flash: bool, seq: int = TOKENS["seq"]) -> Scenario:
    spec = spec_from_config({**config, "model_type": "llama"}, "traced")
    s = default_scenario()
    legacy_bnb = mode.startswith(LEGACY_BNB)
    opts = {**s.optimizations.model_dump(), "flash_attention": flash, "gradient_checkpointing": False,
            "lora_rank": 8, "lora_targets": TARGETS.get(mode, ["q_proj", "v_proj"])}
    work = {**s.workload.model_dump(), "mode": "full" if mode == "full" else "lora", "weights": "bf16",
            "recipe": "bf16-pure", "context_length": seq, "batch_size": TOKENS["batch"]}
    if legacy_bnb:  # 4-bit weights, no fp32 upcast (the traced model keeps bf16 norms and embeddings)
        opts |= {"kbit_upcast": False, "legacy_bnb": True}
        work |= {"mode": "qlora", "weights": "nf4"}
    return Scenario.model_validate({"model": ModelChoice(spec=spec), "hardware": s.hardware, "workload": work,
                                    "optimizations": opts})


def traced_layer(key: str) -> int:
    """A layer past the first: the first also holds RoPE's tables (full) or saves less (LoRA: its input
    needs no gradient)."""
    return TRACE["saved"][key]["per_layer"][1]


@pytest.mark.parametrize("key", sorted(TRACE["saved"]))
def test_each_layer_saves_what_the_trace_recorded(key):
    name, mode, attn, *rest = key.split("/")
    seq = int(rest[0].removeprefix("seq")) if rest else TOKENS["seq"]
    s = scenario(TRACE["configs"][name], mode, attn == "sdpa", seq)
    e = estimate(s, "precise")
    layers = s.model.spec.num_hidden_layers
    assert e.saved_activations_per_gpu / layers == traced_layer(key)


def test_eager_attention_and_optimizer_constants_are_the_traced_ones():
    eager = TRACE["eager_score_bytes"]
    assert abs(K.EAGER_SCORE_BYTES - eager["inference"]) <= 0.25  # one layer's peak without gradients
    assert K.EAGER_SAVED_SCORE_BYTES == round(eager["forward"] - 0.5)  # kept per layer (+ the layer in flight)
    assert eager["backward"] <= K.EAGER_TRAIN_SCORE_BYTES < eager["backward"] + 0.5
    temp = TRACE["optimizer_temporary_bytes_per_param"]
    assert K.FOREACH_TEMP_STATES["adamw"] * K.OPTIMIZER_STATE_BYTES["adamw"]["fp32"] / K.OPTIMIZER_STATES["adamw"] == temp["adamw"]
    assert K.FOREACH_TEMP_STATES["sgd-momentum"] == temp["sgd-momentum"] == 0


@pytest.mark.parametrize("targets", ["qv", "all"])
def test_legacy_bitsandbytes_keeps_the_frozen_layers_inputs(targets):
    """bitsandbytes < 0.43.2: each 4-bit layer's input is kept for backward, 4 B x hidden + 2 B x MLP width
    per token per layer more than LoRA on a bf16 base (whose frozen layers keep nothing), in the trace and
    in the estimate alike; without the setting QLoRA saves what LoRA does (bitsandbytes >= 0.43.2)."""
    config = TRACE["configs"]["base"]
    traced = traced_layer(f"base/{LEGACY_BNB}{targets}/sdpa") - traced_layer(f"base/lora-{targets}/sdpa")
    per_token = traced / (TOKENS["batch"] * TOKENS["seq"])
    assert per_token == 4 * config["hidden_size"] + 2 * config["intermediate_size"]
    legacy = scenario(config, LEGACY_BNB + targets, True)
    modern = legacy.model_copy(update={"optimizations": legacy.optimizations.model_copy(update={"legacy_bnb": False})})
    layers = legacy.model.spec.num_hidden_layers
    on, off = (estimate(s, "precise").saved_activations_per_gpu / layers for s in (legacy, modern))
    assert on - off == traced
    assert off == traced_layer(f"base/lora-{targets}/sdpa")


@pytest.mark.measure
def test_the_recorded_trace_is_what_the_tracer_measures_now():
    import sys

    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    from trace_memory import CONFIGS, SEQ, build, saved_for_backward

    tokens = torch.randint(0, TRACE["configs"]["base"]["vocab_size"], (TOKENS["batch"], SEQ))
    for name in CONFIGS:
        _, model = build(CONFIGS[name], "sdpa")
        assert saved_for_backward(model, tokens)["per_layer"] == TRACE["saved"][f"{name}/full/sdpa"]["per_layer"]
