"""GGUF files as a model source: metadata -> ModelSpec, tensor list -> the stored bytes.

The files are written here with gguf-py's GGUFWriter, sparse (header and tensor infos only; the data
section is a hole), so a Llama-3.1-8B-sized Q4_K_M file costs a few MB of disk."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from gguf import GGUFReader, LlamaFileType

from tests.gguf_files import F32, Q, Tensor, Written, model_kv, model_tensors, write_gguf, write_model
from vramtui.core import presets
from vramtui.core.formats import WEIGHT_FORMATS, gguf_bytes, layer_layout, weight_bytes, weight_format
from vramtui.core.model import ModelSpec
from vramtui.core.sources.gguf_file import (
    FILE_TYPES,
    GGUFError,
    GGUFHeaderTooShort,
    read_gguf,
    read_gguf_header,
    read_gguf_headers,
    read_mmproj,
)

# the architecture: what a GGUF must reproduce of a preset
ARCH_FIELDS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "kv_heads", "head_size",
    "max_position_embeddings", "tie_word_embeddings", "mlp_gated", "qkv_bias", "o_bias", "mlp_bias", "norm_bias",
    "norms_per_layer", "final_norm", "qk_norm", "attention_sinks", "num_experts", "num_experts_per_tok",
    "moe_intermediate_size", "num_shared_experts", "shared_expert_intermediate_size", "shared_expert_gate",
    "router_bias", "expert_bias", "first_dense_layers", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim",
    "qk_rope_head_dim", "v_head_dim", "sliding_window", "windowed_layers", "model_type", "total_parameters",
)


def arch_of(m: ModelSpec) -> dict[str, object]:
    out = {f: getattr(m, f) for f in ARCH_FIELDS}
    if not m.is_moe or m.moe_layers < m.num_hidden_layers:
        out["intermediate_size"] = m.intermediate_size  # an all-MoE model never uses it
    return out


def one_line(exc: pytest.ExceptionInfo[GGUFError]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg
    return msg


# --- 1. Llama 3.1 8B Q4_K_M ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Written:
    path = tmp_path_factory.mktemp("gguf") / "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"
    # the real tokenizer's length (its strings stand in), rope_freqs as convert_hf_to_gguf.py writes for 3.1
    return write_model(path, presets.model("llama-3.1-8b"), "llama", "q4_k_m", tokens=True, rope_freqs=True)


def test_llama_q4_k_m_architecture(llama: Written) -> None:
    g = read_gguf(llama.path)
    preset = presets.model("llama-3.1-8b")
    assert (g.arch, g.weights, g.context_length) == ("llama", "q4_k_m", 131072)
    assert arch_of(g.spec) == arch_of(preset)
    assert g.spec.parameters == preset.parameters == 8_030_261_248  # rope_freqs is a buffer, not a parameter
    assert g.spec.extra_parameters == 0 and not g.spec.parameters_note
    assert g.spec.name == "Llama 3.1 8B" and g.spec.id == "meta-llama-3.1-8b-instruct-q4-k-m"


def test_llama_q4_k_m_bytes(llama: Written) -> None:
    g = read_gguf(llama.path)
    s = g.spec
    reader = GGUFReader(llama.path)  # gguf-py's own reading of the same file
    assert reader.data_offset == llama.data_offset
    assert g.tensor_bytes == sum(int(t.n_bytes) for t in reader.tensors)
    assert g.tensor_bytes == os.path.getsize(llama.path) - reader.data_offset  # every tensor 32-byte aligned here
    assert s.stored_bytes == g.tensor_bytes and s.stored_format == "q4_k_m"
    assert len(s.stored_layer_bytes) == 32 and s.stored_expert_bytes == () and s.stored_extra_bytes == 0
    assert s.stored_token_embd_bytes is not None and s.stored_output_bytes is not None
    assert sum(s.stored_layer_bytes) + s.stored_token_embd_bytes + s.stored_output_bytes == s.stored_bytes
    assert s.stored_token_embd_bytes == 128256 * 4096 // 256 * 144  # Q4_K
    assert s.stored_output_bytes == 128256 * 4096 // 256 * 210 + 4096 * 4  # Q6_K + the f32 final norm
    # use_more_bits layers carry Q6_K attn_v and ffn_down; layer 0 also holds rope_freqs (64 f32)
    plain, bumped = s.stored_layer_bytes[4], s.stored_layer_bytes[0] - 256
    assert bumped > plain and s.stored_layer_bytes[1] == bumped and s.stored_layer_bytes[31] == bumped
    fmt = weight_format("q4_k_m")
    assert weight_bytes(s, fmt) == s.stored_bytes
    assert layer_layout(s, fmt).total == s.stored_bytes
    # the rule the estimator uses without a file follows the same llama-quant.cpp mix: equal but for rope_freqs
    assert gguf_bytes(presets.model("llama-3.1-8b"), fmt) == s.stored_bytes - 256


# --- 2. MoE ------------------------------------------------------------------------------------------------


def small_moe(**changes: object) -> ModelSpec:
    base: dict[str, object] = dict(
        id="tiny-moe", name="Tiny MoE", vocab_size=1024, hidden_size=256, intermediate_size=512, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=8192, qk_norm="head",
        num_experts=8, num_experts_per_tok=2, moe_intermediate_size=128, model_type="qwen3_moe")
    return ModelSpec.model_validate({**base, **changes})


@pytest.mark.parametrize("arch,spec", [
    ("qwen3moe", small_moe()),
    ("qwen2moe", small_moe(qk_norm="none", qkv_bias=True, shared_expert_intermediate_size=512, shared_expert_gate=True,
                           num_experts=16, model_type="qwen2_moe")),
], ids=["qwen3moe", "qwen2moe"])
def test_moe_expert_bytes(tmp_path: Path, arch: str, spec: ModelSpec) -> None:
    w = write_model(tmp_path / "tiny-moe.gguf", spec, arch, "q8_0")
    g = read_gguf(w.path)
    assert arch_of(g.spec) == arch_of(spec)
    assert g.spec.parameters == spec.total_parameters and g.spec.extra_parameters == 0
    experts = g.spec.stored_expert_bytes
    assert len(experts) == 4 and all(e > 0 for e in experts)
    for i, e in enumerate(experts):
        pattern = re.compile(rf"blk\.{i}\.ffn_(gate|up|down)_exps\.weight")
        assert e == w.nbytes(lambda n: pattern.fullmatch(n) is not None)  # noqa: B023
        assert e < g.spec.stored_layer_bytes[i]
    assert layer_layout(g.spec, weight_format("q8_0")).experts == experts


# --- every supported architecture against its preset --------------------------------------------------


@pytest.mark.parametrize("preset_id,arch,fmt", [
    ("llama-3.2-1b", "llama", "q4_k_m"),  # tied
    ("mixtral-8x7b", "llama", "q4_k_m"),  # Mixtral converts to arch llama with experts
    ("qwen2.5-7b", "qwen2", "q4_k_m"),
    ("qwen3-8b", "qwen3", "q4_k_m"),
    ("qwen3-0.6b", "qwen3", "q8_0"),  # head_dim 128 != 1024 / 16
    ("qwen1.5-moe-a2.7b", "qwen2moe", "q8_0"),
    ("qwen3-30b-a3b", "qwen3moe", "q4_k_m"),
    ("gemma-2-2b", "gemma2", "q8_0"),
    ("gemma-3-1b", "gemma3", "q8_0"),
    ("phi-3-mini-4k", "phi3", "q8_0"),
    ("deepseek-v2-lite", "deepseek2", "q8_0"),
    ("gpt-oss-20b", "gpt-oss", "mxfp4"),
    ("command-r-plus", "command-r", "q8_0"),  # one norm per layer, qk-norm over every head
    ("olmo-2-7b", "olmo2", "q8_0"),  # post-norms only, qk-norm over all channels
])
def test_architectures_match_presets(tmp_path: Path, preset_id: str, arch: str, fmt: str) -> None:
    preset = presets.model(preset_id)
    w = write_model(tmp_path / f"{preset_id}.gguf", preset, arch, fmt)
    g = read_gguf(w.path)
    assert g.arch == arch and g.weights == fmt
    assert arch_of(g.spec) == arch_of(preset)
    assert g.spec.parameters == preset.total_parameters and g.spec.extra_parameters == 0
    s = g.spec
    out = s.stored_output_bytes if s.stored_output_bytes is not None else 0
    assert (s.stored_token_embd_bytes or 0) + sum(s.stored_layer_bytes) + out + s.stored_extra_bytes == s.stored_bytes
    assert s.stored_bytes == w.tensor_bytes
    assert weight_bytes(s, weight_format(fmt)) == w.tensor_bytes


def test_phi3_window_is_ignored_like_llama_cpp(tmp_path: Path) -> None:
    preset = presets.model("phi-3-mini-4k")
    kv = {**model_kv(preset, "phi3", LlamaFileType.MOSTLY_Q8_0), "phi3.attention.sliding_window": 2047}
    w = write_gguf(tmp_path / "phi3.gguf", "phi3", kv, model_tensors(preset, "phi3", lambda r, i: Q.Q8_0))
    assert read_gguf(w.path).spec.sliding_window is None


def test_sliding_window_pattern_key_overrides_the_default(tmp_path: Path) -> None:
    preset = presets.model("gemma-3-1b")
    kv = {**model_kv(preset, "gemma3", LlamaFileType.MOSTLY_Q8_0), "gemma3.attention.sliding_window_pattern": 2}
    w = write_gguf(tmp_path / "g.gguf", "gemma3", kv, model_tensors(preset, "gemma3", lambda r, i: Q.Q8_0))
    assert read_gguf(w.path).spec.sliding_window_layers == 13


def test_unmodelled_tensors_become_extra_parameters(tmp_path: Path) -> None:
    preset = presets.model("llama-3.2-1b")
    tensors = [*model_tensors(preset, "llama", lambda r, i: Q.Q8_0), Tensor("mtp.proj.weight", (2048, 2048), Q.F16)]
    w = write_gguf(tmp_path / "x.gguf", "llama", model_kv(preset, "llama", LlamaFileType.MOSTLY_Q8_0), tensors)
    s = read_gguf(w.path).spec
    assert s.extra_parameters == 2048 * 2048 and s.extra_parameters_note
    assert s.parameters == preset.total_parameters + 2048 * 2048 == s.total_parameters
    assert s.stored_extra_bytes == 2048 * 2048 * 2


# --- 3. vision projector ------------------------------------------------------------------------------------


def test_mmproj_bytes(tmp_path: Path, llama: Written) -> None:
    tensors = [Tensor("v.patch_embd.weight", (1152, 3, 14, 14), Q.F16), Tensor("v.position_embd.weight", (4096, 1152), Q.F16)]
    for i in range(4):
        tensors += [Tensor(f"v.blk.{i}.attn_q.weight", (1152, 1152), Q.F16), Tensor(f"v.blk.{i}.attn_q.bias", (1152,), F32),
                    Tensor(f"v.blk.{i}.ffn_up.weight", (4304, 1152), Q.F16), Tensor(f"v.blk.{i}.ln1.weight", (1152,), F32)]
    tensors += [Tensor("mm.input_projection.weight", (2560, 1152), Q.F16), Tensor("mm.soft_emb_norm.weight", (1152,), F32)]
    w = write_gguf(tmp_path / "mmproj-model-f16.gguf", "clip", {"clip.has_vision_encoder": True, "general.file_type": 1}, tensors)
    assert read_mmproj(w.path) == w.tensor_bytes == sum(t.n_bytes for t in GGUFReader(w.path).tensors)
    assert "read_mmproj" in one_line(pytest.raises(GGUFError, read_gguf, w.path))
    assert "not a vision projector" in one_line(pytest.raises(GGUFError, read_mmproj, llama.path))


# --- 4. tied embeddings ----------------------------------------------------------------------------------


def test_tied_embeddings(tmp_path: Path) -> None:
    preset = presets.model("gemma-3-1b")
    w = write_model(tmp_path / "gemma-3-1b-it-Q8_0.gguf", preset, "gemma3", "q8_0")
    s = read_gguf(w.path).spec
    assert s.tie_word_embeddings and s.stored_output_bytes is None
    assert (s.model_type, s.sliding_window, s.sliding_window_layers) == ("gemma3_text", 512, 22)
    assert s.parameters == preset.parameters == 999_885_952
    # the final norm (f32) is counted with the last layer: the file's bytes are all accounted for
    assert (s.stored_token_embd_bytes or 0) + sum(s.stored_layer_bytes) == s.stored_bytes
    layout = layer_layout(s, weight_format("q8_0"))
    assert layout.output == s.stored_token_embd_bytes  # the output layer is the embedding table again


# --- 5. from the first bytes only ---------------------------------------------------------------------------


def test_header_bytes_give_the_same_model(llama: Written) -> None:
    total = os.path.getsize(llama.path)
    with llama.path.open("rb") as fh:
        head = fh.read(llama.data_offset)
    from_file = read_gguf(llama.path)
    assert read_gguf_header(head, total, name=llama.path.stem) == from_file
    assert read_gguf_header(head + b"\0" * 100, total, name=llama.path.stem) == from_file


def test_short_header_says_how_much_more(llama: Written) -> None:
    total = os.path.getsize(llama.path)
    with llama.path.open("rb") as fh:
        data = fh.read(llama.data_offset)
    got = 4096
    rounds = 0
    while True:  # what a Hub client does: range requests until the header fits
        try:
            model = read_gguf_header(data[:got], total, name=llama.path.stem)
            break
        except GGUFHeaderTooShort as exc:
            assert "header larger than the bytes read" in str(exc) and "\n" not in str(exc)
            assert exc.needed > got
            got = max(exc.needed, 2 * got)
            rounds += 1
    assert rounds >= 1 and model.tensor_bytes == read_gguf(llama.path).tensor_bytes


def test_header_of_a_file_smaller_than_its_tensors(llama: Written) -> None:
    with llama.path.open("rb") as fh:
        head = fh.read(llama.data_offset)
    msg = one_line(pytest.raises(GGUFError, read_gguf_header, head, llama.data_offset + 1000))
    assert "truncated" in msg


# --- split files -------------------------------------------------------------------------------------------


def test_split_gguf_reads_every_part(tmp_path: Path) -> None:
    preset = presets.model("llama-3.2-1b")
    tensors = model_tensors(preset, "llama", lambda r, i: Q.Q8_0)
    half = len(tensors) // 2
    kv = model_kv(preset, "llama", LlamaFileType.MOSTLY_Q8_0)
    parts = [
        write_gguf(tmp_path / "m-00001-of-00002.gguf", "llama",
                   {**kv, "split.no": 0, "split.count": 2, "split.tensors.count": len(tensors)}, tensors[:half]),
        write_gguf(tmp_path / "m-00002-of-00002.gguf", "llama",
                   {"split.no": 1, "split.count": 2, "split.tensors.count": len(tensors)}, tensors[half:]),
    ]
    whole = write_gguf(tmp_path / "m.gguf", "llama", kv, tensors)
    expected = read_gguf(whole.path)
    for part in parts:
        got = read_gguf(part.path)
        assert got.spec.stored_layer_bytes == expected.spec.stored_layer_bytes
        assert got.tensor_bytes == expected.tensor_bytes and got.spec.parameters == expected.spec.parameters
    heads = []
    for part in parts:
        with part.path.open("rb") as fh:
            heads.append((fh.read(part.data_offset), os.path.getsize(part.path)))
    assert read_gguf_headers(heads, name="m") == expected
    assert "part 1 of a 2-part" in one_line(pytest.raises(GGUFError, read_gguf_header, *heads[0]))
    parts[1].path.unlink()
    assert "m-00002-of-00002.gguf" in one_line(pytest.raises(GGUFError, read_gguf, parts[0].path))


# --- 6. errors ------------------------------------------------------------------------------------------------


def test_not_a_gguf(tmp_path: Path) -> None:
    p = tmp_path / "random.gguf"
    p.write_bytes(os.urandom(4096))
    assert "not a GGUF file" in one_line(pytest.raises(GGUFError, read_gguf, p))
    p.write_bytes(b"")
    assert "not a GGUF file" in one_line(pytest.raises(GGUFError, read_gguf, p))
    assert "not a GGUF file" in one_line(pytest.raises(GGUFError, read_gguf_header, b"PK\x03\x04" + bytes(100), 10**9))
    assert "directory" in one_line(pytest.raises(GGUFError, read_gguf, tmp_path))
    assert "No such file" in one_line(pytest.raises(GGUFError, read_gguf, tmp_path / "missing.gguf"))


def test_truncated_files(tmp_path: Path, llama: Written) -> None:
    with llama.path.open("rb") as fh:
        head = fh.read(1000)
    p = tmp_path / "cut-header.gguf"
    p.write_bytes(head)
    assert "truncated" in one_line(pytest.raises(GGUFError, read_gguf, p))
    # the header whole but the data cut short (an interrupted download)
    w = write_model(tmp_path / "cut-data.gguf", presets.model("llama-3.2-1b"), "llama", "q8_0")
    with w.path.open("r+b") as fh:
        fh.truncate(w.data_offset + w.tensor_bytes // 2)
    assert "truncated" in one_line(pytest.raises(GGUFError, read_gguf, w.path))


def test_corrupt_header(tmp_path: Path, llama: Written) -> None:
    with llama.path.open("rb") as fh:
        head = bytearray(fh.read(llama.data_offset))
    head[24:32] = (2**62).to_bytes(8, "little")  # the first key's length
    with pytest.raises(GGUFError) as exc:
        read_gguf_header(bytes(head), os.path.getsize(llama.path))
    one_line(exc)
    head = bytearray(b"GGUF") + (7).to_bytes(4, "little") + bytes(16)
    assert "version 7" in one_line(pytest.raises(GGUFError, read_gguf_header, bytes(head), 100))


def test_unsupported_architecture(tmp_path: Path) -> None:
    preset = presets.model("llama-3.2-1b")
    kv = {k.replace("llama.", "mamba."): v for k, v in model_kv(preset, "llama", LlamaFileType.MOSTLY_Q8_0).items()}
    w = write_gguf(tmp_path / "m.gguf", "mamba", kv, model_tensors(preset, "llama", lambda r, i: Q.Q8_0))
    msg = one_line(pytest.raises(GGUFError, read_gguf, w.path))
    assert "'mamba' is not supported" in msg and "llama" in msg


def test_unknown_file_type(tmp_path: Path) -> None:
    preset = presets.model("llama-3.2-1b")
    w = write_model(tmp_path / "m.gguf", preset, "llama", "q8_0", file_type=LlamaFileType.MOSTLY_IQ2_XXS)
    assert "19 (MOSTLY_IQ2_XXS)" in one_line(pytest.raises(GGUFError, read_gguf, w.path))


@pytest.mark.parametrize("key", ["general.file_type", "llama.block_count", "llama.embedding_length",
                                 "llama.attention.head_count", "llama.context_length", "general.architecture"])
def test_missing_metadata_names_the_key(tmp_path: Path, key: str) -> None:
    preset = presets.model("llama-3.2-1b")
    kv = {k: v for k, v in model_kv(preset, "llama", LlamaFileType.MOSTLY_Q8_0).items() if k != key}
    w = write_gguf(tmp_path / "m.gguf", "llama", kv, model_tensors(preset, "llama", lambda r, i: Q.Q8_0))
    if key == "general.architecture":  # GGUFWriter always writes it; rename it in the header instead
        with w.path.open("r+b") as fh:
            head = fh.read(w.data_offset)
            fh.seek(0)
            fh.write(head.replace(b"general.architecture", b"general.architecturX"))
    assert repr(key) in one_line(pytest.raises(GGUFError, read_gguf, w.path))


def test_bad_metadata_is_a_gguf_error(tmp_path: Path) -> None:
    preset = presets.model("llama-3.2-1b")
    kv = {**model_kv(preset, "llama", LlamaFileType.MOSTLY_Q8_0), "llama.attention.head_count_kv": 5}
    w = write_gguf(tmp_path / "m.gguf", "llama", kv, model_tensors(preset, "llama", lambda r, i: Q.Q8_0))
    assert "num_attention_heads" in one_line(pytest.raises(GGUFError, read_gguf, w.path))


# --- the file-type table --------------------------------------------------------------------------------------


def test_file_types_follow_gguf_py() -> None:
    """Every id is gguf-py's LlamaFileType of that name, and maps to one of our weight formats."""
    for number, fmt in FILE_TYPES.items():
        name = LlamaFileType(number).name
        assert fmt in WEIGHT_FORMATS
        expected = {"ALL_F32": "fp32", "MOSTLY_F16": "fp16", "MOSTLY_BF16": "bf16", "MOSTLY_MXFP4_MOE": "mxfp4"}
        assert expected.get(name, name.removeprefix("MOSTLY_").lower()) == fmt
    gguf_formats = {f.id for f in WEIGHT_FORMATS.values() if f.kind == "gguf"}
    assert gguf_formats <= set(FILE_TYPES.values())
