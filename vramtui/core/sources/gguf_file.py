"""A GGUF file as a model source: the architecture from its metadata, the bytes from its tensor list.

Only the header is read (magic, metadata, tensor infos: the first few MB of a file of many GB), so a
local file costs one pass over its header and a file on the Hub costs one range request
(``read_gguf_header``). The header is parsed here rather than with ``gguf.GGUFReader``: that reader
builds a numpy view for every element of every metadata array and takes ~16 s on a Llama 3 header
(128k tokens, 280k merges), where this parser skips the arrays' strings by their lengths. The ``gguf``
package (imported only while reading) supplies the ggml block sizes (``GGML_QUANT_SIZES``) and the
names of ``llama_ftype`` values for messages.

Layout of the header (ggml ``docs/gguf.md``): magic "GGUF", version (u32, 2 or 3), tensor count and
metadata count (u64 each), the metadata key/value pairs, one info per tensor (name, dims, ggml type,
offset into the data section), padding to ``general.alignment`` (32 by default), then the data.
"""

from __future__ import annotations

import mmap
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import describe
from ..model import ModelSpec
from ..record import ValidationError

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS
_KEEP_ARRAY = 1 << 16  # numeric arrays up to this length keep their values (per-layer hyperparameters)

# llama_ftype (llama.h) -> our weight format id. The numbers are gguf-py's ``LlamaFileType``
# (gguf/constants.py, "from llama_ftype in llama.h"); only types with a format in formats.WEIGHT_FORMATS.
FILE_TYPES: dict[int, str] = {
    0: "fp32",  # ALL_F32
    1: "fp16",  # MOSTLY_F16
    2: "q4_0",  # MOSTLY_Q4_0
    3: "q4_1",  # MOSTLY_Q4_1
    7: "q8_0",  # MOSTLY_Q8_0
    8: "q5_0",  # MOSTLY_Q5_0
    9: "q5_1",  # MOSTLY_Q5_1
    10: "q2_k",  # MOSTLY_Q2_K
    11: "q3_k_s",  # MOSTLY_Q3_K_S
    12: "q3_k_m",  # MOSTLY_Q3_K_M
    13: "q3_k_l",  # MOSTLY_Q3_K_L
    14: "q4_k_s",  # MOSTLY_Q4_K_S
    15: "q4_k_m",  # MOSTLY_Q4_K_M
    16: "q5_k_s",  # MOSTLY_Q5_K_S
    17: "q5_k_m",  # MOSTLY_Q5_K_M
    18: "q6_k",  # MOSTLY_Q6_K
    30: "iq4_xs",  # MOSTLY_IQ4_XS
    32: "bf16",  # MOSTLY_BF16
    38: "mxfp4",  # MOSTLY_MXFP4_MOE (gpt-oss: experts MXFP4)
}


@dataclass(frozen=True)
class _Arch:
    model_type: str  # Hugging Face model_type of the checkpoints converted to this architecture
    swa_period: int | None = None  # llama.cpp set_swa_pattern(n): of every n layers the first n-1 slide


# general.architecture -> how it maps. Sliding windows only where llama.cpp's graph uses them
# (llama-model.cpp load_hparams: gemma2 set_swa_pattern(2), gemma3 (6), cohere2 (4), gpt-oss (2)); Phi-3's
# GGUF names a window that llama.cpp turns off, Mistral/Qwen2 windows are not honoured either.
ARCHITECTURES: dict[str, _Arch] = {
    "llama": _Arch("llama"),  # also Mistral 7B/Nemo/Small (converted as llama) and Mixtral (with experts)
    "mistral3": _Arch("mistral"),  # as hfconfig maps a mistral3 config: its text_config's model_type
    "granite": _Arch("granite"),
    "qwen2": _Arch("qwen2"),
    "qwen3": _Arch("qwen3"),
    "qwen2moe": _Arch("qwen2_moe"),
    "qwen3moe": _Arch("qwen3_moe"),
    "gemma": _Arch("gemma"),
    "gemma2": _Arch("gemma2", 2),
    "gemma3": _Arch("gemma3_text", 6),
    "phi3": _Arch("phi3"),
    "deepseek2": _Arch("deepseek_v2"),  # deepseek_v3 when the router has a bias (noaux_tc)
    "gpt-oss": _Arch("gpt_oss", 2),
    "command-r": _Arch("cohere"),
    "cohere2": _Arch("cohere2", 4),
    "olmo2": _Arch("olmo2"),
    "starcoder2": _Arch("starcoder2"),
}

# tensors that are not parameters of the checkpoint: rope scaling tables computed at conversion
_BUFFERS = ("rope_freqs", "rope_factors_long", "rope_factors_short")
_INPUT = ("token_embd", "token_embd_norm", "position_embd", "token_types")
_OUTPUT = ("output", "output_norm")
# routed experts, as llama.cpp's --n-cpu-moe / -cmoe pattern names them (common.h LLM_FFN_EXPS_REGEX),
# plus the per-expert tensors of old Mixtral conversions (blk.N.ffn_gate.E.weight)
_EXPERT = re.compile(r"ffn_(up|down|gate|gate_up)_(ch)?exps\.|ffn_(up|down|gate)\.\d+\.")
_BLOCK = re.compile(r"blk\.(\d+)\.(.+)")
_SPLIT_NAME = re.compile(r"^(?P<stem>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")
_NORM_EXCLUDED = ("attn_q_norm", "attn_k_norm", "attn_q_a_norm", "attn_kv_a_norm")


class GGUFError(ValueError):
    """A GGUF file that cannot be read as a model: one line naming what is wrong."""


class GGUFHeaderTooShort(GGUFError):
    """The bytes given end inside the header; ``needed`` is a lower bound on the bytes it takes."""

    def __init__(self, message: str, needed: int) -> None:
        super().__init__(message)
        self.needed = needed


@dataclass(frozen=True)
class GGUFModel:
    spec: ModelSpec  # architecture from the metadata + the stored_* byte fields from the tensor list
    arch: str  # general.architecture
    weights: str  # our weight format id, from general.file_type
    tensor_bytes: int  # every tensor's bytes (the data section, less alignment padding)
    context_length: int  # {arch}.context_length


# --- header parsing ------------------------------------------------------------------------------


class _Short(Exception):
    def __init__(self, needed: int) -> None:
        self.needed = needed


@dataclass(frozen=True)
class _Array:
    type: int
    count: int
    values: tuple[Any, ...] | None  # None when not kept (strings, long arrays)


@dataclass(frozen=True)
class _Tensor:
    name: str
    dims: tuple[int, ...]  # ggml order: ne[0] (the row length) first
    type: int
    offset: int

    @property
    def elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n


_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


class _Header:
    """The parsed header of one GGUF file (or of the first bytes of one)."""

    def __init__(self, buf: Any, label: str) -> None:
        self.buf, self.label, self.pos = buf, label, 0
        if len(buf) < 4 or bytes(buf[:4]) != MAGIC:
            raise GGUFError(f"{label}: not a GGUF file (no GGUF magic at the start)")
        if len(buf) < 8:
            raise _Short(24)
        version = struct.unpack_from("<I", buf, 4)[0]
        self.order = "<"
        if version & 0xFFFF == 0:  # written on a big-endian machine (gguf-py's test, GGUFReader)
            self.order = ">"
            version = struct.unpack_from(">I", buf, 4)[0]
        if version not in (2, 3):
            raise GGUFError(f"{label}: GGUF version {version} is not supported (2 and 3 are)")
        self.pos = 8
        n_tensors, n_kv = self._u64(), self._u64()
        if n_tensors > 1 << 24 or n_kv > 1 << 24:
            raise GGUFError(f"{label}: corrupt GGUF header ({n_tensors} tensors, {n_kv} metadata keys)")
        self.kv: dict[str, Any] = {}
        for _ in range(n_kv):
            key = self._str()
            self.kv[key] = self._value(self._u32())
        self.tensors: list[_Tensor] = []
        for _ in range(n_tensors):
            name = self._str()
            n_dims = self._u32()
            if not 1 <= n_dims <= MAX_DIMS:
                raise GGUFError(f"{label}: corrupt tensor info for {name!r} ({n_dims} dimensions)")
            dims = tuple(self._u64() for _ in range(n_dims))
            ggml_type, offset = self._u32(), self._u64()
            self.tensors.append(_Tensor(name, dims, ggml_type, offset))
        self.header_end = self.pos
        align = self.kv.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(align, int) or isinstance(align, bool) or align <= 0 or align & (align - 1):
            raise GGUFError(f"{label}: general.alignment must be a power of two, got {align!r}")
        self.alignment = align
        self.data_offset = -(-self.pos // align) * align

    def _need(self, n: int) -> None:
        if self.pos + n > len(self.buf):
            raise _Short(self.pos + n)

    def _u32(self) -> int:
        self._need(4)
        v: int = struct.unpack_from(self.order + "I", self.buf, self.pos)[0]
        self.pos += 4
        return v

    def _u64(self) -> int:
        self._need(8)
        v: int = struct.unpack_from(self.order + "Q", self.buf, self.pos)[0]
        self.pos += 8
        return v

    def _str(self) -> str:
        n = self._u64()
        if n > 1 << 30:
            raise GGUFError(f"{self.label}: corrupt GGUF header (a string of {n} bytes at offset {self.pos - 8})")
        self._need(n)
        raw = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise GGUFError(f"{self.label}: corrupt GGUF header (a string that is not UTF-8 at offset {self.pos - n})") from None

    def _skip_str(self) -> None:
        n = self._u64()
        self._need(n)
        self.pos += n

    def _value(self, vtype: int) -> Any:
        fmt = _SCALARS.get(vtype)
        if fmt is not None:
            size = struct.calcsize(fmt)
            self._need(size)
            v = struct.unpack_from(self.order + fmt, self.buf, self.pos)[0]
            self.pos += size
            return v
        if vtype == _STRING:
            return self._str()
        if vtype == _ARRAY:
            itype, count = self._u32(), self._u64()
            ifmt = _SCALARS.get(itype)
            if ifmt is not None:
                size = struct.calcsize(ifmt) * count
                self._need(size)
                values = None
                if count <= _KEEP_ARRAY:
                    values = struct.unpack_from(f"{self.order}{count}{ifmt}", self.buf, self.pos)
                self.pos += size
                return _Array(itype, count, values)
            if itype == _STRING:
                if count > len(self.buf):  # each string takes at least its 8-byte length
                    raise _Short(self.pos + 8 * count)
                for _ in range(count):
                    self._skip_str()
                return _Array(itype, count, None)
            if itype == _ARRAY:
                for _ in range(count):
                    self._value(_ARRAY)
                return _Array(itype, count, None)
        raise GGUFError(f"{self.label}: corrupt GGUF header (metadata value of unknown type {vtype} at offset {self.pos})")


def _parse(buf: Any, label: str, partial: bool) -> _Header:
    try:
        return _Header(buf, label)
    except _Short as short:
        if partial:
            raise GGUFHeaderTooShort(
                f"{label}: GGUF header larger than the bytes read ({len(buf):,}); it needs at least {short.needed:,}",
                short.needed) from None
        raise GGUFError(f"{label}: truncated or corrupt GGUF file: its header runs past the end of the file ({len(buf):,} bytes)") from None


def _quant_sizes() -> dict[int, tuple[int, int]]:
    from gguf.constants import GGML_QUANT_SIZES  # imported here: the package (numpy) is only needed to read GGUF

    return {int(t): sizes for t, sizes in GGML_QUANT_SIZES.items()}


def _tensor_bytes(h: _Header, total_size: int) -> list[int]:
    """Each tensor's bytes (ggml_nbytes), checking that the data section holds them all."""
    sizes = _quant_sizes()
    out = []
    end = h.data_offset
    for t in h.tensors:
        if t.type not in sizes:
            raise GGUFError(f"{h.label}: tensor {t.name!r} has ggml type {t.type}, which this gguf package does not know")
        block, type_size = sizes[t.type]
        if t.dims[0] % block:
            raise GGUFError(f"{h.label}: corrupt tensor info: {t.name!r} rows of {t.dims[0]} are not whole blocks of {block}")
        if t.offset % h.alignment:
            raise GGUFError(f"{h.label}: corrupt tensor info: {t.name!r} data offset {t.offset} is not aligned")
        n = t.elements // block * type_size
        out.append(n)
        end = max(end, h.data_offset + t.offset + n)
    if end > total_size:
        raise GGUFError(f"{h.label}: truncated GGUF file: its tensors end at byte {end:,} but it has {total_size:,}")
    return out


# --- from header to model ------------------------------------------------------------------------


class _Meta:
    """Typed metadata access whose errors name the key."""

    def __init__(self, h: _Header) -> None:
        self.kv, self.label = h.kv, h.label

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.kv:
            if required:
                raise GGUFError(f"{self.label}: GGUF metadata has no {key!r}")
            return None
        return self.kv[key]

    def text(self, key: str, required: bool = True) -> str | None:
        v = self._get(key, required)
        if v is not None and not isinstance(v, str):
            raise GGUFError(f"{self.label}: GGUF metadata {key!r} must be a string, got {v!r}")
        return v

    def whole(self, key: str, required: bool = True) -> int | None:
        v = self._get(key, required)
        if isinstance(v, _Array):  # per-layer values (head counts, FFN widths): supported when all equal
            if v.values is None or v.type not in _SCALARS or len(set(v.values)) > 1:
                raise GGUFError(f"{self.label}: GGUF metadata {key!r} differs from layer to layer; not supported")
            if not v.values:
                if required:
                    raise GGUFError(f"{self.label}: GGUF metadata {key!r} is empty")
                return None
            v = v.values[0]
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise GGUFError(f"{self.label}: GGUF metadata {key!r} must be a whole number, got {v!r}")
        if v < 0:
            raise GGUFError(f"{self.label}: GGUF metadata {key!r} must not be negative, got {v!r}")
        return v

    def req(self, key: str) -> int:
        v = self.whole(key)
        assert v is not None  # whole(required=True) raises instead
        return v


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", lambda m: "." if m.group() == "." else "-", text.lower()).strip(".-")
    return s or "gguf"


def _swa_layers(meta: _Meta, arch: str, layers: int, period: int) -> int:
    pattern = meta.kv.get(f"{arch}.attention.sliding_window_pattern")
    if isinstance(pattern, _Array) and pattern.values is not None:  # per layer: true where the layer slides
        return sum(1 for v in pattern.values[:layers] if v)
    if isinstance(pattern, int) and not isinstance(pattern, bool):
        period = pattern
    if period == 0:  # set_swa_pattern(0): every layer
        return layers
    return layers - layers // period  # il % period < period - 1 slides


def _build(parts: list[_Header], sizes: list[list[int]], name: str) -> GGUFModel:
    head = parts[0]
    label = head.label
    meta = _Meta(head)
    arch = meta.text("general.architecture")
    assert arch is not None
    if arch == "clip":
        raise GGUFError(f"{label}: a vision projector (mmproj, general.architecture 'clip'), not a language model; "
                        "read it with read_mmproj")
    info = ARCHITECTURES.get(arch)
    if info is None:
        raise GGUFError(f"{label}: GGUF architecture {arch!r} is not supported; supported: {', '.join(ARCHITECTURES)}")
    file_type = meta.req("general.file_type")
    weights = FILE_TYPES.get(file_type)
    if weights is None:
        raise GGUFError(f"{label}: GGUF file type {_ftype_name(file_type)} has no weight format here; "
                        f"supported: {', '.join(sorted(set(FILE_TYPES.values())))}")

    def k(suffix: str) -> str:
        return f"{arch}.{suffix}"

    layers = meta.req(k("block_count"))
    hidden = meta.req(k("embedding_length"))
    heads = meta.req(k("attention.head_count"))
    kv_heads = meta.whole(k("attention.head_count_kv"), False) or heads
    context = meta.req(k("context_length"))
    n_expert = meta.whole(k("expert_count"), False) or 0

    # tensors: bytes by where llama.cpp places them, elements for the parameter count, roles per layer
    tensors = [(t, n) for part, part_sizes in zip(parts, sizes, strict=True) for t, n in zip(part.tensors, part_sizes, strict=True)]
    by_name = {t.name: t for t, _ in tensors}
    embd = out = extra = 0
    per_layer = [0] * layers
    experts = [0] * layers
    roles: list[set[str]] = [set() for _ in range(layers)]
    parameters = 0
    tied = "output.weight" not in by_name
    for t, n in tensors:
        base = t.name.split(".", 1)[0]
        if base not in _BUFFERS:
            parameters += t.elements
        m = _BLOCK.fullmatch(t.name)
        if m and int(m.group(1)) < layers:
            i = int(m.group(1))
            per_layer[i] += n
            roles[i].add(m.group(2))
            if _EXPERT.match(m.group(2)):
                experts[i] += n
        elif base in _INPUT:
            embd += n
        elif base == "output_norm" and tied and layers:
            per_layer[-1] += n  # a tied model's output layer is the embedding table; keep the final norm counted
        elif base in _OUTPUT:
            out += n
        elif base in _BUFFERS and layers:
            per_layer[0] += n  # llama-model.cpp creates rope_freqs with layer 0 (TENSOR_DUPLICATED for the rest)
        else:
            extra += n  # tensors outside the text decoder (MTP head, ...)
    if parameters == 0:
        raise GGUFError(f"{label}: GGUF file lists no tensors")

    first = roles[0] if layers else set()

    def has(role: str) -> bool:
        return any(role in r for r in roles)

    def elements(role: str, layer: int = 0) -> int:
        t = by_name.get(f"blk.{layer}.{role}")
        return t.elements if t is not None else 0

    # vocab: the embedding table's rows (what is stored), else the metadata
    embd_t = by_name.get("token_embd.weight")
    if embd_t is not None and len(embd_t.dims) == 2:
        vocab = embd_t.dims[1]
    else:
        tokens = meta.kv.get("tokenizer.ggml.tokens")
        vocab = meta.whole(k("vocab_size"), False) or (tokens.count if isinstance(tokens, _Array) else 0)
        if not vocab:
            raise GGUFError(f"{label}: GGUF metadata has no 'tokenizer.ggml.tokens' nor {k('vocab_size')!r}")

    moe_layers = [i for i, r in enumerate(roles) if any(_EXPERT.match(role) for role in r)]
    ff = meta.whole(k("feed_forward_length"), required=not n_expert or len(moe_layers) < layers)
    fields: dict[str, Any] = {
        "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": ff or 0, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "max_position_embeddings": context,
        "tie_word_embeddings": tied,
        "qkv_bias": has("attn_q.bias") or has("attn_qkv.bias"), "o_bias": has("attn_output.bias"),
        "mlp_bias": has("ffn_down.bias") or has("ffn_down_shexp.bias"), "norm_bias": "attn_norm.bias" in first,
        "lm_head_bias": "output.bias" in by_name, "final_norm": "output_norm.weight" in by_name,
        "norms_per_layer": sum(1 for r in first if r.endswith("_norm.weight") and r[:-7] not in _NORM_EXCLUDED),
        "attention_sinks": has("attn_sinks.weight"),
    }
    gated = has("ffn_gate.weight") or has("ffn_gate_exps.weight") or has("ffn_gate_up_exps.weight") or has("ffn_gate.0.weight")
    if not gated and ff and elements("ffn_up.weight") == 2 * ff * hidden:  # Phi-3: gate and up in one matrix
        gated = True
    fields["mlp_gated"] = gated

    mla = k("attention.kv_lora_rank") in meta.kv
    head_size = hidden // heads if hidden % heads == 0 else 0
    if mla:
        rope = meta.req(k("rope.dimension_count"))
        key_len = meta.whole(k("attention.key_length_mla"), False) or meta.req(k("attention.key_length"))
        v_len = meta.whole(k("attention.value_length_mla"), False) or meta.req(k("attention.value_length"))
        fields.update(kv_lora_rank=meta.req(k("attention.kv_lora_rank")),
                      q_lora_rank=meta.whole(k("attention.q_lora_rank"), False) or None,
                      qk_rope_head_dim=rope, qk_nope_head_dim=key_len - rope, v_head_dim=v_len)
        fields.pop("num_key_value_heads")
    else:
        head_dim = meta.whole(k("attention.key_length"), False)
        if head_dim and head_dim != head_size:
            fields["head_dim"] = head_size = head_dim
        if "attn_q_norm.weight" in first:
            fields["qk_norm"] = "head" if elements("attn_q_norm.weight") == head_size else "full"

    model_type = info.model_type
    if n_expert:
        first_dense = meta.whole(k("leading_dense_block_count"), False) or 0
        if moe_layers != list(range(first_dense, layers)):
            raise GGUFError(f"{label}: experts in layers other than all after the first {first_dense}; "
                            "interleaved dense and MoE layers are not supported")
        moe_ff = meta.whole(k("expert_feed_forward_length"), False) or ff
        if not moe_ff:
            raise GGUFError(f"{label}: GGUF metadata has no {k('expert_feed_forward_length')!r}")
        fields.update(num_experts=n_expert, num_experts_per_tok=meta.req(k("expert_used_count")),
                      moe_intermediate_size=moe_ff, first_dense_layers=first_dense,
                      num_shared_experts=meta.whole(k("expert_shared_count"), False) or 0,
                      router_bias=has("ffn_gate_inp.bias") or has("exp_probs_b.bias"),
                      expert_bias=has("ffn_down_exps.bias"), shared_expert_gate=has("ffn_gate_inp_shexp.weight"))
        shared_ff = meta.whole(k("expert_shared_feed_forward_length"), False)
        shexp = by_name.get(f"blk.{first_dense}.ffn_up_shexp.weight")
        if not shared_ff and not fields["num_shared_experts"] and shexp is not None and len(shexp.dims) == 2:
            shared_ff = shexp.dims[1]
        if shared_ff:
            fields["shared_expert_intermediate_size"] = shared_ff
        if arch == "llama":
            model_type = "mixtral"
        if arch == "deepseek2" and fields["router_bias"]:
            model_type = "deepseek_v3"
    window = meta.whole(k("attention.sliding_window"), False)
    if info.swa_period is not None and window:
        count = _swa_layers(meta, arch, layers, info.swa_period)
        if count:
            fields.update(sliding_window=window, sliding_window_layers=count)

    title = meta.text("general.name", False) or name
    fields.update(id=_slug(name or title), name=title, family=model_type, model_type=model_type, source="GGUF file",
                  stored_format=weights, stored_bytes=sum(n for _, n in tensors), stored_extra_bytes=extra,
                  stored_token_embd_bytes=embd, stored_output_bytes=None if tied else out,
                  stored_layer_bytes=tuple(per_layer), stored_expert_bytes=tuple(experts) if n_expert else ())
    try:
        derived = ModelSpec.model_validate(fields).total_parameters
        difference = parameters - derived
        fields.update(parameters=parameters, parameters_source="GGUF tensor elements (rope tables excluded)")
        if difference > 0:
            fields.update(extra_parameters=difference,
                          extra_parameters_note=f"{difference:,} elements in GGUF tensors the architecture fields do not count")
        elif difference < 0:
            fields["parameters_note"] = f"the architecture fields count {-difference:,} more than the GGUF's tensors hold"
        spec = ModelSpec.model_validate(fields)
    except ValidationError as exc:
        raise GGUFError(f"{label}: {arch} metadata: {describe(exc)}") from None
    return GGUFModel(spec=spec, arch=arch, weights=weights, tensor_bytes=spec.stored_bytes or 0, context_length=context)


def _ftype_name(file_type: int) -> str:
    try:
        from gguf.constants import LlamaFileType

        return f"{file_type} ({LlamaFileType(file_type).name})"
    except (ImportError, ValueError):
        return str(file_type)


# --- public entry points -------------------------------------------------------------------------


def _read_local(path: Path) -> tuple[_Header, list[int]]:
    try:
        with path.open("rb") as fh:
            size = path.stat().st_size
            if size < 4:
                raise GGUFError(f"{path}: not a GGUF file ({size} bytes)")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                h = _parse(buf, str(path), partial=False)
                h.buf = None  # the map closes with this block
    except IsADirectoryError:
        raise GGUFError(f"{path}: is a directory, not a GGUF file") from None
    except OSError as exc:
        raise GGUFError(f"{path}: {exc.strerror or exc}") from None
    return h, _tensor_bytes(h, size)


def _split(h: _Header) -> tuple[int, int]:
    count = h.kv.get("split.count", 1)
    no = h.kv.get("split.no", 0)
    if not isinstance(count, int) or not isinstance(no, int) or count < 1 or not 0 <= no < count:
        raise GGUFError(f"{h.label}: corrupt split metadata (split.no {no!r}, split.count {count!r})")
    return no, count


def read_gguf(path: str | Path) -> GGUFModel:
    """A local GGUF file's model. For a split file (``name-00001-of-00003.gguf``) any part will do: the
    others are read from the same folder."""
    p = Path(path)
    h, sizes = _read_local(p)
    no, count = _split(h)
    parts, part_sizes = [h], [sizes]
    if count > 1:
        m = _SPLIT_NAME.match(p.name)
        if m is None:
            raise GGUFError(f"{p}: part {no + 1} of a {count}-part GGUF whose name does not follow NAME-00001-of-{count:05d}.gguf")
        parts, part_sizes = [], []
        for i in range(count):
            sibling = p.with_name(f"{m['stem']}-{i + 1:05d}-of-{count:05d}.gguf")
            if not sibling.is_file():
                raise GGUFError(f"{p}: part {i + 1} of this {count}-part GGUF is missing ({sibling.name})")
            ph, ps = (h, sizes) if i == no else _read_local(sibling)
            parts.append(ph)
            part_sizes.append(ps)
        name = m["stem"]
    else:
        name = p.stem
    return _build(parts, part_sizes, name)


def read_gguf_header(header: bytes, total_size: int, name: str = "") -> GGUFModel:
    """The model of a GGUF file from only its first bytes (a range request on a Hub file) and its size.

    Raises ``GGUFHeaderTooShort`` (a GGUFError whose ``needed`` says how many bytes at least) when the
    header does not fit in ``header``. ``name`` (a file or repo name) gives the spec's id."""
    return read_gguf_headers([(header, total_size)], name)


def read_gguf_headers(parts: Sequence[tuple[bytes, int]], name: str = "") -> GGUFModel:
    """``read_gguf_header`` for a split GGUF: each part's first bytes and size, in order."""
    if not parts:
        raise GGUFError("no GGUF header given")
    headers, sizes = [], []
    for i, (header, total_size) in enumerate(parts):
        label = name or "GGUF header"
        if len(parts) > 1:
            label = f"{label} (part {i + 1} of {len(parts)})"
        if total_size < len(header):
            raise GGUFError(f"{label}: total size {total_size:,} is smaller than the {len(header):,} bytes read")
        h = _parse(memoryview(header), label, partial=True)
        h.buf = None
        no, count = _split(h)
        if count != len(parts) or no != i:
            raise GGUFError(f"{label}: this is part {no + 1} of a {count}-part GGUF; give every part's header in order")
        headers.append(h)
        sizes.append(_tensor_bytes(h, total_size))
    return _build(headers, sizes, name)


def read_mmproj(path: str | Path) -> int:
    """Bytes of every tensor of a vision projector GGUF (``general.architecture`` "clip")."""
    p = Path(path)
    h, sizes = _read_local(p)
    arch = h.kv.get("general.architecture")
    if arch != "clip":
        raise GGUFError(f"{p}: not a vision projector (general.architecture is {arch!r}, not 'clip')")
    return sum(sizes)
