"""Presets: enough of them, well-formed, and each model's architecture reproduces its official count;
the index commands read them through is fresh and says what the presets say."""

import contextlib
import re

import pytest

from vramtui.core import presets

MODELS = presets.models()
GPUS = presets.gpus()


def test_at_least_100_models_and_40_gpus():
    assert len(MODELS) >= 100
    assert len(GPUS) >= 40


@pytest.mark.parametrize("family_id", [
    "llama-2-7b", "llama-3-8b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-3.2-1b", "llama-3.2-3b",
    "llama-3.3-70b", "mistral-7b-v0.1", "mixtral-8x7b", "mixtral-8x22b", "qwen2.5-0.5b", "qwen2.5-72b", "qwen3-8b",
    "qwen3-30b-a3b", "gemma-2-9b", "gemma-3-27b", "phi-2", "phi-4", "deepseek-v2-lite", "deepseek-v3", "deepseek-r1",
    "gpt-oss-20b", "gpt-oss-120b", "falcon-7b", "gpt2", "opt-125m", "tinyllama-1.1b", "guide-llama-7b", "guide-llama-70b",
])
def test_named_presets_exist(family_id):
    assert family_id in MODELS


@pytest.mark.parametrize("gpu_id", [
    "rtx-3060-12gb", "rx-7600-xt", "rtx-4070-ti", "rtx-3090", "rtx-4090", "rtx-a5000", "rtx-6000-ada", "a40",
    "a100-40gb", "a100-80gb", "h100-80gb", "rtx-5090", "rtx-5080", "rtx-5070-ti", "rtx-4060-ti-16gb", "l4", "l40s",
    "t4", "v100-16gb", "a10", "h100-nvl", "h200", "b200", "mi300x", "mi325x", "rx-7900-xtx", "m4-max-128gb",
])
def test_guide_and_current_gpus_exist(gpu_id):
    gpu = GPUS[gpu_id]
    assert gpu.memory_mib > 1000 and gpu.bandwidth_gbs > 0 and gpu.source and gpu.memory_source


@pytest.mark.parametrize("spec", MODELS.values(), ids=list(MODELS))
def test_derived_parameter_count_matches_official(spec):
    assert re.fullmatch(r"[a-z0-9]+([.-][a-z0-9]+)*", spec.id)
    assert spec.source and spec.parameters and spec.parameters_source
    derived = spec.total_parameters
    if derived != spec.parameters:
        # allowed only with a written reason: a rounded official figure or the guide's nominal size
        assert spec.parameters_note, f"{spec.id}: derived {derived:,} != official {spec.parameters:,} with no note"
        limit = 0.05 if spec.family == "guide" else 0.02
        assert abs(derived - spec.parameters) / spec.parameters < limit


def test_known_exact_counts():
    exact = {"llama-3.1-8b": 8_030_261_248, "mixtral-8x7b": 46_702_792_704, "qwen2.5-7b": 7_615_616_512,
             "gemma-2-9b": 9_241_705_984, "phi-2": 2_779_683_840, "gpt2": 124_439_808,
             "deepseek-v2-lite": 15_706_484_224, "gpt-oss-20b": 20_914_757_184}
    assert {k: MODELS[k].total_parameters for k in exact} == exact


def test_moe_active_parameters_are_fewer():
    mixtral = MODELS["mixtral-8x7b"]
    assert 12.5e9 < mixtral.active_parameters < 13.0e9  # Mistral: 12.9B active


def test_unknown_id_suggests_the_closest():
    with pytest.raises(presets.PresetError, match="did you mean 'llama-3.1-8b'"):
        presets.model("llama-3.1-8")
    with pytest.raises(presets.PresetError, match="did you mean 'rtx-4090'"):
        presets.gpu("rtx4090")


def test_index_file_is_fresh():
    """presets/index.json is what scripts/preset_index.py writes from the TOML files and model.py."""
    path = presets.presets_dir() / presets.INDEX
    assert path.read_text(encoding="utf-8") == presets.index_text(presets.build_index()), (
        "presets/index.json is stale: run `.venv/bin/python scripts/preset_index.py` and commit it")


def test_index_lists_what_the_presets_say():
    entries = presets.model_entries()
    assert list(entries) == list(MODELS) and presets.gpu_ids() == tuple(GPUS)
    for e in entries.values():
        m = MODELS[e.id]
        assert (e.name, e.family, list(e.features), e.total_parameters, e.max_position_embeddings) == (
            m.name, m.family, list(m.features), m.total_parameters, m.max_position_embeddings)
        for query in (e.id, e.family, "moe", "7b", "qwen 7b", "gqa swa"):
            assert presets.matches(e, query) == presets.matches(m, query)


def test_a_stale_index_is_rebuilt_from_the_presets(tmp_path, monkeypatch):
    """An edited preset (its CRC no longer matches the index) is read from the TOML files, not the index."""
    import shutil

    shutil.copytree(presets.presets_dir(), tmp_path / "presets")
    llama = tmp_path / "presets" / "models" / "llama.toml"
    llama.write_text(llama.read_text().replace('name = "Llama 3.1 8B"', 'name = "Llama 3.1 8B (edited)"', 1))
    with _presets_in(tmp_path / "presets", monkeypatch):
        assert presets.model_entries()["llama-3.1-8b"].name == "Llama 3.1 8B (edited)"
        assert presets.model("llama-3.1-8b").name == "Llama 3.1 8B (edited)"


def test_a_bad_index_file_is_rebuilt(tmp_path, monkeypatch):
    import shutil

    shutil.copytree(presets.presets_dir(), tmp_path / "presets")
    (tmp_path / "presets" / presets.INDEX).write_text("{not json")
    with _presets_in(tmp_path / "presets", monkeypatch):
        assert list(presets.model_entries()) == list(MODELS)
        assert presets.gpu("rtx-4090") == GPUS["rtx-4090"]


@contextlib.contextmanager
def _presets_in(folder, monkeypatch):
    """Read presets from ``folder`` with empty caches; the real ones are back afterwards."""
    caches = (presets._index, presets._doc, presets.models, presets.gpus, presets._folder)
    monkeypatch.setattr(presets, "_folder", lambda: str(folder))
    monkeypatch.setattr(presets, "_models", {})
    monkeypatch.setattr(presets, "_gpus", {})
    for c in caches:
        c.cache_clear()
    try:
        yield
    finally:
        monkeypatch.undo()
        for c in caches:
            c.cache_clear()


def test_presets_are_validated_once_and_shared():
    assert presets.model("llama-3.1-8b") is MODELS["llama-3.1-8b"]
    assert presets.gpu("rtx-4090") is GPUS["rtx-4090"]
