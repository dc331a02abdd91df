"""``vramtui measure``: build the scenario's model from its architecture with random weights, run it
on a local device, and put the measured peak next to the estimate.

Needs the optional ``measure`` extra (torch, transformers, peft); nothing is downloaded. Only the
architectures transformers can build from a ModelSpec without a checkpoint are supported (Llama,
Qwen2, Qwen3 and Mixtral shapes), in fp32/fp16/bf16. Training runs exactly the scenario's recipe (fp32
master weights for bf16-mixed, autocast for amp), optimizer (AdamW, SGD, Adafactor, bitsandbytes'
AdamW8bit, lion-pytorch's Lion) and loss (transformers' own, a cross-entropy on the 16-bit logits,
Liger's fused one); what this machine cannot run is refused in one line, never swapped for something
else. On the CPU the harness runs (that is what the tests check) but memory is not comparable with a
GPU's, so only the process's resident-set growth is reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .core.methods import estimate
from .core.model import ModelSpec
from .core.presets import gpu as gpu_preset
from .core.scenario import Scenario
from .core.setup import Setup

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
# peft's target names are the Llama module names, which these architectures share
SUPPORTED = "Llama-, Qwen2-, Qwen3- and Mixtral-shaped models (dense or MoE without shared experts, no MLA, gated MLP)"


class MeasureError(RuntimeError):
    """Cannot measure here: missing extra, no GPU, unsupported architecture. Printed as one line."""


@dataclass
class Measurement:
    device: str
    seconds: float
    max_allocated: int | None = None  # torch.cuda.max_memory_allocated
    max_reserved: int | None = None  # torch.cuda.max_memory_reserved
    device_used: int | None = None  # total - free from cudaMemGetInfo: what nvidia-smi shows for the process
    rss_growth: int | None = None  # CPU runs: resident-set growth of this process
    ran: dict[str, str] = field(default_factory=dict)  # training: the recipe, optimizer and loss it ran
    estimate: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return self.__dict__.copy()


def _imports():
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MeasureError(f"{exc.name} is not installed; install the extra: pip install 'vramtui[measure]'") from None
    return torch, transformers


def hf_config(spec: ModelSpec, transformers) -> Any:
    """A transformers config with exactly the architecture the estimator counts."""
    if spec.is_mla or not spec.mlp_gated or spec.num_shared_experts or spec.shared_expert_intermediate_size:
        raise MeasureError(f"measure supports {SUPPORTED}; {spec.name} is not one")
    if spec.norm_bias or spec.position_embeddings or spec.norms_per_layer != 2 or spec.lm_head_bias or spec.attention_sinks:
        raise MeasureError(f"measure supports {SUPPORTED}; {spec.name} is not one")
    common = dict(
        vocab_size=spec.vocab_size, hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers, num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.kv_heads, head_dim=spec.head_size, max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=spec.tie_word_embeddings,
    )
    if spec.is_moe:
        return transformers.MixtralConfig(**common, num_local_experts=spec.num_experts,
                                          num_experts_per_tok=spec.num_experts_per_tok)
    if spec.qk_norm == "head":
        return transformers.Qwen3Config(**common, attention_bias=spec.qkv_bias)
    if spec.qkv_bias and not spec.o_bias:
        return transformers.Qwen2Config(**common)
    if spec.qk_norm != "none":
        raise MeasureError(f"measure supports {SUPPORTED}; {spec.name} is not one")
    return transformers.LlamaConfig(**common, attention_bias=spec.qkv_bias, mlp_bias=spec.mlp_bias)


def _rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def measure(s: Scenario, device: str = "cuda", new_tokens: int = 8) -> Measurement:
    torch, transformers = _imports()
    w, o = s.workload, s.optimizations
    setup = Setup(s, gpu_preset(s.hardware.verdict_gpu))  # the runtime's defaults for unset settings
    if not setup.runtime.measurable:
        raise MeasureError(f"measure runs transformers models; runtime {setup.runtime.label} has its own engine "
                           "(compare with its start-up log instead)")
    if device == "cuda" and not torch.cuda.is_available():
        raise MeasureError("no GPU: torch sees no CUDA device here; run on a GPU machine (or --device cpu to check the harness)")
    if w.weights not in DTYPES:
        raise MeasureError(f"measure builds fp32/fp16/bf16 models; weights {w.weights!r} need a quantised checkpoint")
    if w.mode == "qlora":
        raise MeasureError("QLoRA needs bitsandbytes quantisation of real weights; measure supports inference, lora and full")
    if o.gpus > 1:
        raise MeasureError("measure runs on one device; set tensor/pipeline/data parallel to 1")
    run_plan = training_plan(s, torch, device) if w.mode != "inference" else None
    dtype = getattr(torch, DTYPES[run_plan.param_dtype if run_plan else w.weights])
    config = hf_config(s.model.spec, transformers)
    attn = "sdpa" if setup.flash_attention else "eager"
    torch.manual_seed(0)
    start_rss, t0 = _rss(), time.perf_counter()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with torch.device(device):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
    tokens = torch.randint(0, s.model.spec.vocab_size, (w.batch_size, max(1, w.context_length - new_tokens)), device=device)
    if w.mode == "inference":
        model.eval()
        with torch.no_grad():
            model.generate(tokens, attention_mask=torch.ones_like(tokens), max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    else:
        assert run_plan is not None
        Trainer(torch, model, s, setup, run_plan).run(tokens)
    if device == "cuda":
        torch.cuda.synchronize()
    m = Measurement(device=device, seconds=time.perf_counter() - t0, ran=run_plan.describe() if run_plan else {})
    if device == "cuda":
        free, total = torch.cuda.mem_get_info()
        m.max_allocated = torch.cuda.max_memory_allocated()
        m.max_reserved = torch.cuda.max_memory_reserved()
        m.device_used = total - free
    else:
        m.rss_growth = max(0, _rss() - start_rss)
    e = estimate(s)
    m.estimate = {"allocated": e.allocated_per_gpu, "card": e.per_gpu_bytes, "components": dict(e.per_gpu)}
    return m


@dataclass(frozen=True)
class TrainingPlan:
    """What a training measurement runs, decided before anything is built: exactly the scenario's
    recipe, optimizer and loss, or a MeasureError naming the one that cannot run here."""

    param_dtype: str  # the model's parameters: "fp32" or "bf16"
    master_weights: bool  # an fp32 copy the optimizer updates (bf16-mixed)
    autocast: str | None  # the autocast dtype (amp), else None
    optimizer: str
    loss: str

    def describe(self) -> dict[str, str]:
        return {"parameters": self.param_dtype, "master_weights": "fp32" if self.master_weights else "none",
                "autocast": self.autocast or "off", "optimizer": self.optimizer, "loss": self.loss}


def training_plan(s: Scenario, torch, device: str) -> TrainingPlan:
    w, o = s.workload, s.optimizations
    if w.mode == "full":
        recipe = {"fp32": ("fp32", False, None), "amp": ("fp32", False, "fp16" if device == "cuda" else "bf16"),
                  "bf16-mixed": ("bf16", True, None), "bf16-pure": ("bf16", False, None)}[w.recipe]
    else:  # LoRA: the frozen base in the scenario's weights, fp32 adapters (peft's default)
        recipe = (w.weights, False, None)
    _optimizer_class(torch, o.optimizer, device)  # refuses here, before a model is built
    if o.loss == "chunked":
        try:
            import liger_kernel  # noqa: F401
        except ImportError:
            raise MeasureError("loss 'chunked' runs Liger-Kernel's fused cross-entropy: pip install liger-kernel, "
                               "or measure with loss fp32-logits / bf16-logits") from None
    return TrainingPlan(recipe[0], recipe[1], recipe[2], o.optimizer, o.loss)


def _optimizer_class(torch, name: str, device: str):
    """The optimizer the scenario names, or a MeasureError saying what is missing: never another one."""
    if name in ("adamw", "sgd", "sgd-momentum"):
        return {"adamw": torch.optim.AdamW, "sgd": torch.optim.SGD, "sgd-momentum": torch.optim.SGD}[name]
    if name == "adafactor":
        if not hasattr(torch.optim, "Adafactor"):
            raise MeasureError("optimizer adafactor needs torch >= 2.5 (torch.optim.Adafactor)")
        return torch.optim.Adafactor
    if name == "adamw-8bit":
        try:
            import bitsandbytes
        except ImportError:
            raise MeasureError("optimizer adamw-8bit runs bitsandbytes' AdamW8bit: pip install bitsandbytes") from None
        if device != "cuda":
            raise MeasureError("optimizer adamw-8bit (bitsandbytes) runs on a CUDA GPU only")
        return bitsandbytes.optim.AdamW8bit
    if name == "lion":
        try:
            from lion_pytorch import Lion
        except ImportError:
            raise MeasureError("optimizer lion runs lion-pytorch's Lion: pip install lion-pytorch") from None
        return Lion
    raise MeasureError(f"optimizer {name!r} has no implementation here")


class Trainer:
    """Two training steps of the scenario's recipe: the second is the steady state (states exist)."""

    def __init__(self, torch, model, s: Scenario, setup: Setup, run: TrainingPlan) -> None:
        self.torch, self.s, self.run_plan = torch, s, run
        o = s.optimizations
        if s.workload.mode == "lora":
            try:
                import peft
            except ImportError:
                raise MeasureError("peft is not installed; install the extra: pip install 'vramtui[measure]'") from None
            model = peft.get_peft_model(model, peft.LoraConfig(r=o.lora_rank, target_modules=list(o.lora_targets)))
        if setup.gradient_checkpointing:
            model.gradient_checkpointing_enable()
            if s.workload.mode == "lora":
                model.enable_input_require_grads()
        model.train()
        self.model = model
        self.params = [p for p in model.parameters() if p.requires_grad]
        # bf16-mixed: the optimizer updates fp32 master copies; the model's bf16 parameters follow them
        self.master = [p.detach().float().requires_grad_(True) for p in self.params] if run.master_weights else None
        device = self.params[0].device.type
        cls = _optimizer_class(torch, o.optimizer, device)
        extra = {"momentum": 0.9} if o.optimizer == "sgd-momentum" else {}
        self.optimizer = cls(self.master or self.params, lr=1e-5, **extra)

    def loss(self, tokens):
        torch = self.torch
        if self.run_plan.loss == "fp32-logits":  # transformers' own loss: labels passed to the model
            return self.model(input_ids=tokens, labels=tokens, use_cache=False).loss
        logits = self.model(input_ids=tokens, use_cache=False).logits
        if self.run_plan.loss == "bf16-logits":  # cross-entropy on the model's own (16-bit) logits
            return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten())
        from liger_kernel.transformers.functional import liger_cross_entropy  # chunked: checked in training_plan
        return liger_cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten())

    def run(self, tokens, steps: int = 2) -> None:
        torch, autocast = self.torch, self.run_plan.autocast
        for _ in range(steps):
            if autocast:
                with torch.autocast(tokens.device.type, dtype=getattr(torch, DTYPES[autocast])):
                    loss = self.loss(tokens)
            else:
                loss = self.loss(tokens)
            loss.backward()
            if self.master is not None:
                for m, p in zip(self.master, self.params, strict=True):
                    m.grad = p.grad.float()
                    p.grad = None
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            if self.master is not None:
                with torch.no_grad():
                    for m, p in zip(self.master, self.params, strict=True):
                        p.copy_(m)
                        p.grad = None
