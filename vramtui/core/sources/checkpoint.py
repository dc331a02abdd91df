"""A safetensors checkpoint's tensor list turned into exact bytes, the stored format and the modules
outside the language model (vision tower, projector, audio encoder, MTP head).

Only headers are read: a safetensors file starts with an 8-byte little-endian length and a JSON header
naming every tensor's dtype, shape and byte range (huggingface/safetensors, "Format"); nothing here
reads or downloads weights.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..hfconfig import ConfigImportError, spec_from_config
from ..model import ModelSpec

# bytes per element of each safetensors dtype (safetensors/src/tensor.rs Dtype::size)
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "I64": 8,
               "I32": 4, "I16": 2, "I8": 1, "U8": 1, "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F4": 0.5}
# tensors that hold no parameters of their own: quantization scales, zero points, group indices
AUXILIARY = re.compile(r"(_scale|_scale_inv|scales|qzeros|g_idx|absmax|quant_map|quant_state|nested_|zeros)(\.|$)"
                       r"|\.(input_scale|weight_scale|k_scale|v_scale)$")
# modules outside the language model, by the names transformers gives them
EXTRA = re.compile(r"(^|\.)(vision_tower|vision_model|visual|vision|multi_modal_projector|mm_projector|image_newline"
                   r"|audio_tower|audio|mtp)(\.|_|$)")
MAX_HEADER = 100 << 20  # a header beyond 100 MiB is not a checkpoint header


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; one line naming the file or the repo."""


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    @property
    def bytes(self) -> int:
        return int(self.elements * DTYPE_BYTES.get(self.dtype, 0))


def parse_header(data: bytes, where: str) -> list[Tensor]:
    """Tensors of one safetensors file from its first bytes (at least the header)."""
    if len(data) < 8:
        raise CheckpointError(f"{where}: too short for a safetensors header")
    (size,) = struct.unpack("<Q", data[:8])
    if size > MAX_HEADER:
        raise CheckpointError(f"{where}: header of {size:,} bytes; not a safetensors file")
    if len(data) < 8 + size:
        raise CheckpointError(f"{where}: header is {size:,} bytes but only {len(data) - 8:,} were read")
    try:
        header = json.loads(data[8:8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{where}: header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{where}: header is not a JSON object")
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            out.append(Tensor(name, str(info["dtype"]), tuple(int(x) for x in info["shape"])))
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{where}: tensor {name!r} has no dtype/shape") from None
    return out


def read_file_header(path: Path) -> list[Tensor]:
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: too short for a safetensors header")
        (size,) = struct.unpack("<Q", head)
        if size > MAX_HEADER:
            raise CheckpointError(f"{path}: header of {size:,} bytes; not a safetensors file")
        return parse_header(head + fh.read(size), str(path))


def stored_format(config: dict[str, Any], tensors: Iterable[Tensor]) -> str:
    """The weight-format id of the checkpoint: from ``quantization_config`` when it has one, else from
    the dtype its weights are stored in."""
    q = config.get("quantization_config") or (config.get("text_config") or {}).get("quantization_config")
    if isinstance(q, dict):
        method = str(q.get("quant_method", "")).lower()
        if method in ("fp8", "fbgemm_fp8"):
            return "fp8"
        if method in ("gptq", "awq") and int(q.get("bits", 4)) == 4:
            return "gptq-int4" if method == "gptq" else "awq-int4"
        if method == "bitsandbytes":
            if q.get("load_in_4bit"):
                return "nf4-dq" if q.get("bnb_4bit_use_double_quant") else "nf4"
            return "int8"
        if method == "mxfp4":
            return "mxfp4"
        if method == "compressed-tensors":
            groups = q.get("config_groups") or {}
            weights = [g.get("weights") or {} for g in groups.values() if isinstance(g, dict)]
            if any(w.get("type") == "float" and int(w.get("num_bits", 0)) == 8 for w in weights):
                return "fp8"
            if any(w.get("type") == "int" and int(w.get("num_bits", 0)) == 4 for w in weights):
                return "gptq-int4"  # W4A16 packed ints with per-group scales, as GPTQ lays them out
            if any(w.get("type") == "int" and int(w.get("num_bits", 0)) == 8 for w in weights):
                return "int8"
        raise CheckpointError(f"quantization_config.quant_method {method!r} is not a format vramtui models")
    counts: dict[str, int] = {}
    for t in tensors:
        if not AUXILIARY.search(t.name):
            counts[t.dtype] = counts.get(t.dtype, 0) + t.elements
    main = max(counts, key=lambda d: counts[d]) if counts else "BF16"
    return {"BF16": "bf16", "F16": "fp16", "F32": "fp32", "F8_E4M3": "fp8"}.get(main, "bf16")


def parameters_of(t: Tensor, config: dict[str, Any]) -> int:
    """Parameters a tensor holds: packed 4-bit weights count 8 per int32 (2 per byte)."""
    if AUXILIARY.search(t.name):
        return 0
    if t.dtype == "I32" and t.name.endswith("qweight"):
        return t.elements * 32 // int((config.get("quantization_config") or {}).get("bits", 4))
    if t.dtype == "U8" and t.name.endswith(("_blocks", ".weight")) and "quantization_config" in config:
        return t.elements * 2  # MXFP4 blocks / bitsandbytes 4-bit: two values per byte
    return t.elements


def checkpoint_spec(config: dict[str, Any], tensors: list[Tensor], name: str, source: str) -> tuple[ModelSpec, str]:
    """The language model's architecture from ``config``, with the checkpoint's exact bytes and parameters,
    and the stored format id."""
    if not tensors:
        raise CheckpointError(f"{source}: no tensors in the safetensors headers")
    try:
        spec = spec_from_config(config, name)
    except ConfigImportError as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    fmt = stored_format(config, tensors)
    layers = spec.num_hidden_layers
    extra = [t for t in tensors if EXTRA.search(t.name) or _beyond_layers(t.name, layers)]
    total_params = sum(parameters_of(t, config) for t in tensors)
    extra_params = sum(parameters_of(t, config) for t in extra)
    text_params = spec.total_parameters - spec.extra_parameters
    # the checkpoint counts what it holds; anything the architecture does not derive is an extra module
    extra_params = max(extra_params, total_params - text_params)
    note = _extra_note(extra)
    update = {
        "id": _slug(source), "source": source, "parameters": total_params, "parameters_source": "safetensors headers",
        "extra_parameters": max(0, extra_params), "extra_parameters_note": note,
        "stored_format": fmt, "stored_bytes": sum(t.bytes for t in tensors),
        "stored_extra_bytes": sum(t.bytes for t in extra),
    }
    return spec.model_copy(update=update), fmt


def _beyond_layers(name: str, layers: int) -> bool:
    """DeepSeek-style MTP layers are stored as extra decoder layers past num_hidden_layers."""
    m = re.search(r"layers\.(\d+)\.", name)
    return m is not None and int(m.group(1)) >= layers


def _extra_note(extra: list[Tensor]) -> str:
    kinds = sorted({m.group(2) for t in extra if (m := EXTRA.search(t.name))})
    return ("modules outside the language model in the checkpoint: " + ", ".join(kinds)) if kinds else (
        "MTP layers past num_hidden_layers" if extra else "")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "model"
