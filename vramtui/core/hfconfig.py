"""Turn a Hugging Face ``config.json`` into a ``ModelSpec``.

Each supported ``model_type`` maps its own key names and defaults (the defaults of the matching
``transformers`` config class, e.g. ``LlamaConfig.tie_word_embeddings = False`` but
``GemmaConfig.tie_word_embeddings = True``). A missing key is an error naming it, never a guess.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from .errors import describe
from .model import ModelSpec
from .record import ValidationError

if TYPE_CHECKING:
    from pathlib import Path

SUPPORTED = (
    "llama", "mistral", "mixtral", "qwen", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2",
    "gemma3_text", "gemma3", "mistral3", "phi", "phi3", "gpt2", "gpt_neox", "gpt_bigcode", "starcoder2", "opt",
    "falcon", "granite", "deepseek_v2", "deepseek_v3", "gpt_oss", "olmo2", "cohere",
)
MAX_CONFIG_BYTES = 4 << 20


class ConfigImportError(ValueError):
    pass


class _Cfg:
    """Key access that reports which key of which model_type is missing or malformed."""

    def __init__(self, data: dict, model_type: str) -> None:
        self.d, self.t = data, model_type

    def req(self, *keys: str) -> int:
        for k in keys:
            v = self.d.get(k)
            if v is not None:
                return self._int(k, v)
        raise ConfigImportError(f"{self.t} config is missing {' or '.join(map(repr, keys))}")

    def opt(self, key: str, default: Any = None) -> Any:
        v = self.d.get(key)
        if v is None:
            return default
        if isinstance(default, bool) or isinstance(v, bool):
            if not isinstance(v, bool):
                raise ConfigImportError(f"{self.t} config: {key!r} must be true or false, got {v!r}")
            return v
        if isinstance(default, int) or default is None and isinstance(v, (int, float)):
            return self._int(key, v)
        return v

    def _int(self, key: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
            raise ConfigImportError(f"{self.t} config: {key!r} must be a whole number, got {v!r}")
        if v < 0:
            raise ConfigImportError(f"{self.t} config: {key!r} must not be negative, got {v!r}")
        return int(v)


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")
    return s or "imported"


def _sliding(c: _Cfg, layers: int, kind: str) -> dict:
    window = c.opt("sliding_window")
    if not window:
        return {}
    if kind in ("qwen2", "qwen3", "qwen2_moe", "qwen3_moe") and not c.opt("use_sliding_window", False):
        return {}
    layer_types = c.d.get("layer_types")
    if isinstance(layer_types, list) and layer_types:
        count = sum(1 for t in layer_types if t == "sliding_attention")
    elif kind == "gemma2":
        count = layers // 2  # even layers slide (Gemma2DecoderLayer: is_sliding = not layer_idx % 2)
    elif kind == "gemma3_text":
        pattern = c.opt("sliding_window_pattern", 6)
        count = layers - layers // pattern  # every pattern-th layer is global
    else:
        count = layers
    if count == 0:
        return {}
    return {"sliding_window": window, "sliding_window_layers": count}


def _common(c: _Cfg, tie_default: bool) -> dict:
    return {
        "vocab_size": c.req("vocab_size"),
        "hidden_size": c.req("hidden_size"),
        "intermediate_size": c.req("intermediate_size"),
        "num_hidden_layers": c.req("num_hidden_layers"),
        "num_attention_heads": c.req("num_attention_heads"),
        "num_key_value_heads": c.opt("num_key_value_heads"),
        "head_dim": c.opt("head_dim"),
        "max_position_embeddings": c.opt("max_position_embeddings", 4096),
        "tie_word_embeddings": c.opt("tie_word_embeddings", tie_default),
    }


def _fields(c: _Cfg, kind: str) -> dict:
    llama_like = {"llama": False, "mistral": False, "granite": False, "qwen2": False, "qwen3": False,
                  "phi3": False, "olmo2": False, "cohere": True, "gemma": True, "gemma2": True, "gemma3_text": True,
                  "mixtral": False, "qwen2_moe": False, "qwen3_moe": False}
    if kind in llama_like:
        f = _common(c, llama_like[kind])
        bias = c.opt("attention_bias", False)
        f.update(qkv_bias=bias, o_bias=bias, mlp_bias=c.opt("mlp_bias", False))
        if kind in ("qwen2", "qwen2_moe"):
            f.update(qkv_bias=True, o_bias=False)  # Qwen2Attention: bias on q/k/v only
        if kind in ("qwen3", "qwen3_moe", "gemma3_text"):
            f["qk_norm"] = "head"
        if kind in ("gemma2", "gemma3_text"):
            f["norms_per_layer"] = 4
        if kind == "olmo2":
            f["qk_norm"] = "full"
        if kind == "cohere":
            f.update(norms_per_layer=1, qk_norm="full" if c.opt("use_qk_norm", False) else "none")
        if kind == "mixtral":
            f.update(num_experts=c.req("num_local_experts"), num_experts_per_tok=c.req("num_experts_per_tok"),
                     moe_intermediate_size=f["intermediate_size"])
        if kind in ("qwen2_moe", "qwen3_moe"):
            if c.opt("mlp_only_layers") or c.opt("decoder_sparse_step", 1) != 1:
                raise ConfigImportError(f"{kind} config: mlp_only_layers / decoder_sparse_step other than every layer is not supported")
            f.update(num_experts=c.req("num_experts"), num_experts_per_tok=c.req("num_experts_per_tok"),
                     moe_intermediate_size=c.req("moe_intermediate_size"))
            if kind == "qwen2_moe" and c.opt("shared_expert_intermediate_size"):
                f.update(shared_expert_intermediate_size=c.req("shared_expert_intermediate_size"), shared_expert_gate=True)
        f.update(_sliding(c, f["num_hidden_layers"], kind))
        return f
    if kind in ("deepseek_v2", "deepseek_v3"):
        f = _common(c, False)
        f.pop("head_dim")
        f.update(
            num_experts=c.req("n_routed_experts"), num_experts_per_tok=c.req("num_experts_per_tok"),
            moe_intermediate_size=c.req("moe_intermediate_size"), num_shared_experts=c.opt("n_shared_experts", 0),
            first_dense_layers=c.opt("first_k_dense_replace", 0), q_lora_rank=c.opt("q_lora_rank"),
            kv_lora_rank=c.req("kv_lora_rank"), qk_nope_head_dim=c.req("qk_nope_head_dim"),
            qk_rope_head_dim=c.req("qk_rope_head_dim"), v_head_dim=c.req("v_head_dim"),
            router_bias=c.opt("topk_method", "") == "noaux_tc",  # e_score_correction_bias
        )
        if c.opt("moe_layer_freq", 1) != 1:
            raise ConfigImportError(f"{kind} config: moe_layer_freq other than 1 is not supported")
        return f
    if kind == "gpt_oss":
        f = _common(c, False)
        f.update(num_experts=c.req("num_local_experts"), num_experts_per_tok=c.req("num_experts_per_tok", "experts_per_token"),
                 moe_intermediate_size=f["intermediate_size"], qkv_bias=c.opt("attention_bias", True),
                 o_bias=c.opt("attention_bias", True), router_bias=True, expert_bias=True, attention_sinks=True)
        f.update(_sliding(c, f["num_hidden_layers"], kind))
        return f
    if kind == "phi":
        f = _common(c, False)
        f.update(mlp_gated=False, qkv_bias=True, o_bias=True, mlp_bias=True, lm_head_bias=True,
                 norm_bias=True, norms_per_layer=1)
        return f
    if kind == "gpt2" or kind == "gpt_bigcode":
        h = c.req("n_embd", "hidden_size")
        heads = c.req("n_head", "num_attention_heads")
        positions = c.req("n_positions", "max_position_embeddings")
        return {
            "vocab_size": c.req("vocab_size"), "hidden_size": h, "intermediate_size": c.opt("n_inner") or 4 * h,
            "num_hidden_layers": c.req("n_layer", "num_hidden_layers"), "num_attention_heads": heads,
            "num_key_value_heads": 1 if kind == "gpt_bigcode" and c.opt("multi_query", True) else None,
            "max_position_embeddings": positions, "position_embeddings": positions,
            "tie_word_embeddings": c.opt("tie_word_embeddings", True), "mlp_gated": False, "qkv_bias": True,
            "o_bias": True, "mlp_bias": True, "norm_bias": True,
        }
    if kind == "gpt_neox":
        f = _common(c, False)
        bias = c.opt("attention_bias", True)
        f.update(mlp_gated=False, qkv_bias=bias, o_bias=bias, mlp_bias=True, norm_bias=True)
        return f
    if kind == "starcoder2":
        f = _common(c, True)
        bias = c.opt("use_bias", True)
        f.update(mlp_gated=False, qkv_bias=bias, o_bias=bias, mlp_bias=bias, norm_bias=True)
        f.update(_sliding(c, f["num_hidden_layers"], kind))
        return f
    if kind == "opt":
        h = c.req("hidden_size")
        if c.opt("word_embed_proj_dim", h) != h:
            raise ConfigImportError("opt config: word_embed_proj_dim differs from hidden_size (project_in/out layers) — not supported")
        positions = c.req("max_position_embeddings")
        bias = c.opt("enable_bias", True)
        return {
            "vocab_size": c.req("vocab_size"), "hidden_size": h, "intermediate_size": c.req("ffn_dim"),
            "num_hidden_layers": c.req("num_hidden_layers"), "num_attention_heads": c.req("num_attention_heads"),
            "max_position_embeddings": positions, "position_embeddings": positions + 2,  # OPT's offset of 2
            "tie_word_embeddings": c.opt("tie_word_embeddings", True), "mlp_gated": False, "qkv_bias": bias,
            "o_bias": bias, "mlp_bias": bias, "norm_bias": True,
            "final_norm": c.opt("do_layer_norm_before", True),
        }
    if kind == "falcon":
        h = c.req("hidden_size")
        heads = c.req("num_attention_heads", "n_head")
        new_arch = c.opt("new_decoder_architecture", False)
        if new_arch:
            kv = c.req("num_kv_heads", "n_head_kv")
        elif c.opt("multi_query", True):
            kv = 1
        else:
            kv = heads
        parallel = c.opt("parallel_attn", True)
        norms = c.opt("num_ln_in_parallel_attn", 2) if new_arch else (1 if parallel else 2)
        bias = c.opt("bias", False)
        return {
            "vocab_size": c.req("vocab_size"), "hidden_size": h,
            "intermediate_size": c.opt("ffn_hidden_size") or 4 * h,
            "num_hidden_layers": c.req("num_hidden_layers", "n_layer"), "num_attention_heads": heads,
            "num_key_value_heads": kv, "max_position_embeddings": c.opt("max_position_embeddings", 2048),
            "tie_word_embeddings": c.opt("tie_word_embeddings", True), "mlp_gated": False,
            "qkv_bias": bias, "o_bias": bias, "mlp_bias": bias, "norm_bias": True, "norms_per_layer": norms,
        }
    if kind == "qwen":
        h = c.req("hidden_size")
        heads = c.req("num_attention_heads")
        return {
            "vocab_size": c.req("vocab_size"), "hidden_size": h, "intermediate_size": c.req("intermediate_size") // 2,
            "num_hidden_layers": c.req("num_hidden_layers"), "num_attention_heads": heads,
            "head_dim": c.opt("kv_channels"), "max_position_embeddings": c.opt("seq_length", 8192),
            "tie_word_embeddings": c.opt("tie_word_embeddings", False), "qkv_bias": True,
        }
    raise ConfigImportError(f"model_type {kind!r} is not supported; supported: {', '.join(SUPPORTED)}")


def spec_from_config(data: Any, name: str = "") -> ModelSpec:
    if not isinstance(data, dict):
        raise ConfigImportError("config.json must hold a JSON object")
    kind = data.get("model_type")
    if not isinstance(kind, str):
        raise ConfigImportError("config.json has no 'model_type'; supported: " + ", ".join(SUPPORTED))
    if kind in ("gemma3", "mistral3"):
        text = data.get("text_config")
        if not isinstance(text, dict):
            raise ConfigImportError(f"{kind} config has no 'text_config' object")
        text = dict(text)
        text.setdefault("model_type", "gemma3_text" if kind == "gemma3" else "mistral")
        return spec_from_config(text, name or kind)
    fields = _fields(_Cfg(data, kind), kind)
    label = name or (data.get("_name_or_path") or kind)
    fields.update(id=_slug(str(label)), name=str(label), family=kind, model_type=kind, source="config.json")
    try:
        return ModelSpec.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise ConfigImportError(f"{kind} config: {describe(exc)}") from None


def load_config(path: str | Path, name: str = "") -> ModelSpec:
    from pathlib import Path

    p = Path(path)
    try:
        if p.is_dir():
            raise ConfigImportError(f"{p}: is a directory, not a config.json file")
        if p.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigImportError(f"{p}: larger than {MAX_CONFIG_BYTES >> 20} MiB; not a model config")
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigImportError(f"{p}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigImportError(f"{p}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ConfigImportError(f"{p}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    try:
        return spec_from_config(data, name or p.parent.name)
    except ConfigImportError as exc:
        raise ConfigImportError(f"{p}: {exc}") from None
