"""transformers / PEFT / TRL / bitsandbytes / DeepSpeed: the Python a plan runs, written from its numbers.

The snippets use the libraries' own argument names (transformers ``from_pretrained``, PEFT
``LoraConfig``, TRL ``SFTConfig``, bitsandbytes ``BitsAndBytesConfig``, DeepSpeed's JSON config), so
each value can be traced to the plan field that set it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..plan import Flag, hf_repo
from ..units import GiB

if TYPE_CHECKING:
    from ..scenario import Scenario

# transformers TrainingArguments.optim names (training_args.py OptimizerNames)
HF_OPTIM = {"adamw": "adamw_torch", "adamw-8bit": "adamw_bnb_8bit", "adafactor": "adafactor", "sgd": "sgd",
            "sgd-momentum": "sgd", "lion": "lion_32bit"}
BNB_4BIT = {"nf4": ("nf4", False), "nf4-dq": ("nf4", True)}


def _dtype(s: Scenario) -> str:
    w = s.workload
    if w.mode == "full" and w.recipe in ("fp32", "amp"):
        return "torch.float32"  # fp32 parameters; autocast (amp) computes in bf16
    return "torch.float16" if w.weights == "fp16" else "torch.bfloat16"


def _quant(s: Scenario, flags: list[Flag]) -> list[str]:
    w = s.workload
    if w.weights in BNB_4BIT:
        kind, dq = BNB_4BIT[w.weights]
        flags.append(Flag("BitsAndBytesConfig", f"load_in_4bit, {kind}, double_quant={dq}", f"weights {w.weights}"))
        return ["    quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=\"nf4\", "
                f"bnb_4bit_use_double_quant={dq}, bnb_4bit_compute_dtype=torch.bfloat16),"]
    if w.weights == "int8":
        flags.append(Flag("BitsAndBytesConfig", "load_in_8bit", "weights int8 (LLM.int8)"))
        return ["    quantization_config=BitsAndBytesConfig(load_in_8bit=True),"]
    return []


def inference(s: Scenario, n: Mapping[str, Any]) -> tuple[str, tuple[Flag, ...], dict[str, str]]:
    repo, gpus = hf_repo(s), n["gpus"]
    flags = [Flag("model", repo, "the preset's Hugging Face repo"),
             Flag("dtype", _dtype(s), f"weights {s.workload.weights}")]
    lines = ["import torch", "from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig", "",
             "model = AutoModelForCausalLM.from_pretrained(", f'    "{repo}",', f"    dtype={_dtype(s)},"]
    lines += _quant(s, flags)
    budget = int(n["usable_bytes"] * 0.95 / GiB)
    flags.append(Flag("device_map", "auto", f"{gpus} GPU{'s' if gpus > 1 else ''}, whole layers each"))
    lines.append('    device_map="auto",')
    if gpus > 1:
        flags.append(Flag("max_memory", f"{budget}GiB × {gpus}", "each GPU's usable memory less 5 % for the KV cache"))
        per_gpu = ", ".join(f'{i}: "{budget}GiB"' for i in range(gpus))
        lines.append(f"    max_memory={{{per_gpu}}},")
    lines += [")", f'tokenizer = AutoTokenizer.from_pretrained("{repo}")',
              f"# generate() with batch {s.workload.batch_size} and up to {s.workload.context_length:,} tokens "
              "per sequence (prompt + new tokens)"]
    return "python run.py", tuple(flags), {"run.py": "\n".join(lines) + "\n"}


def training(s: Scenario, n: Mapping[str, Any]) -> tuple[str, tuple[Flag, ...], dict[str, str]]:
    w, o = s.workload, s.optimizations
    repo, gpus, zero, off = hf_repo(s), n["gpus"], n["zero_stage"], n["cpu_offload"]
    from ..presets import gpu as gpu_preset
    from ..setup import Setup

    ckpt, why_ckpt = Setup(s, gpu_preset(s.hardware.verdict_gpu)).checkpointing
    flags = [Flag("model", repo, "the preset's Hugging Face repo"), Flag("dtype", _dtype(s), f"recipe {w.recipe}")]
    lines = ["import torch", "from datasets import load_dataset",
             "from transformers import AutoModelForCausalLM, BitsAndBytesConfig"]
    lora = w.mode in ("lora", "qlora")
    if lora:
        lines.append("from peft import LoraConfig")
    lines += ["from trl import SFTConfig, SFTTrainer", "", "model = AutoModelForCausalLM.from_pretrained(",
              f'    "{repo}",', f"    dtype={_dtype(s)},"]
    lines += _quant(s, flags)
    lines.append(")")
    for knob, name in (("optimizer_in_backward", "optimizer_in_bwd"), ("activation_offloading", "enable_activation_offloading")):
        if getattr(o, knob):
            flags.append(Flag(knob, "torchtune only", f"transformers' Trainer has no such setting: run a torchtune recipe "
                                                        f"with {name}=True to get the estimate's figure"))
    if w.mode == "qlora":
        up = Setup(s, gpu_preset(s.hardware.verdict_gpu))
        flags.append(Flag("prepare_model_for_kbit_training", "on" if up.kbit_fp32 else "off",
                          "SFTTrainer calls it for a 4-bit model: embeddings, lm_head and norms in fp32" if up.kbit_fp32
                          else "the scenario keeps them in 16 bit: a training loop of your own that skips "
                               "prepare_model_for_kbit_training (SFTTrainer calls it)"))
    if lora:
        targets = list(o.lora_targets)
        flags.append(Flag("LoraConfig", f"r={o.lora_rank}, target_modules={targets}", "the scenario's LoRA rank and targets"))
        lines += ["peft_config = LoraConfig(", f"    r={o.lora_rank}, lora_alpha={2 * o.lora_rank}, "
                  f"target_modules={targets!r}, task_type=\"CAUSAL_LM\",", ")"]
    optim = HF_OPTIM[o.optimizer]
    args = ['output_dir="out"', f"per_device_train_batch_size={w.batch_size}", f"max_length={w.context_length}",
            f"gradient_checkpointing={ckpt}", f"bf16={w.recipe != 'fp32'}", f'optim="{optim}"']
    if o.optimizer == "sgd-momentum":
        args.append('optim_args="momentum=0.9"')
    flags += [Flag("per_device_train_batch_size", str(w.batch_size), "the scenario's batch per GPU"),
              Flag("max_length", str(w.context_length), "tokens per sequence"),
              Flag("gradient_checkpointing", str(ckpt), why_ckpt), Flag("optim", optim, f"optimizer {o.optimizer}")]
    files: dict[str, str] = {}
    if zero or off:
        # one GPU offloads with ZeRO-2 (ZeRO-Offload); the estimate's stage only matters across GPUs
        stage = zero or 2
        args.append('deepspeed="ds_config.json"')
        ds: dict[str, Any] = {"train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
                              "bf16": {"enabled": "auto"}, "zero_optimization": {"stage": stage, "overlap_comm": True}}
        if off:
            ds["zero_optimization"]["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        files["ds_config.json"] = json.dumps(ds, indent=2) + "\n"
        flags.append(Flag("zero_optimization.stage", str(stage), f"the lowest ZeRO stage that fits {gpus} GPUs"
                          if zero else "ZeRO-Offload on one GPU"))
        if off:
            flags.append(Flag("offload_optimizer", "cpu", "optimizer states in host RAM: no ZeRO stage fits without it"))
    lines += ["", "args = SFTConfig(", *(f"    {a}," for a in args), ")",
              'dataset = load_dataset("trl-lib/Capybara", split="train")  # your data here',
              "trainer = SFTTrainer(model=model, args=args, train_dataset=dataset"
              + (", peft_config=peft_config" if lora else "") + ")", "trainer.train()"]
    files["train.py"] = "\n".join(lines) + "\n"
    flags.append(Flag("--num_processes", str(gpus), f"{gpus} GPU{'s' if gpus > 1 else ''} (data parallel)"))
    return f"accelerate launch --num_processes {gpus} train.py", tuple(flags), files
