"""Scenario files: what a user writes loads, what is saved loads back the same, bad files change nothing."""

import os
import re
import tomllib
from pathlib import Path

import pytest

from vramtui.core.io import ScenarioError, default_scenario, dumps, load_scenario, save_scenario, scenario_from_dict
from vramtui.core.methods import estimate

from .builders import make

GOOD = """
schema = 1
name = "Llama 3.1 8B chat on one RTX 4090"

[model]
preset = "llama-3.1-8b"

[workload]
mode = "inference"
weights = "BF16"
kv_cache = "fp16"
batch_size = 1
context_length = 8192
runtime = "transformers"

[optimizations]
flash_attention = true
lora_targets = ["q_proj", "v_proj"]

[hardware]
gpus = ["rtx-4090", "rtx-3090", "a100-80gb", "h100-80gb"]
"""


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_design_example_loads(tmp_path):
    s = load_scenario(write(tmp_path, GOOD))
    assert s.model.spec.id == "llama-3.1-8b"
    assert s.workload.weights == "bf16"  # upper-case accepted, stored canonical
    assert s.hardware.gpus == ("rtx-4090", "rtx-3090", "a100-80gb", "h100-80gb")


def test_save_then_load_gives_the_same_scenario_and_numbers(tmp_path):
    s = make("qwen2.5-7b", mode="qlora", weights="nf4-dq", context_length=4096, lora_rank=32,
             lora_targets=("q_proj", "k_proj", "v_proj", "o_proj"), gradient_checkpointing=True)
    path = save_scenario(s, tmp_path / "q.toml")
    again = load_scenario(path)
    assert again == s
    assert estimate(again).to_json() == estimate(s).to_json()


def test_inline_architecture_round_trips(tmp_path):
    text = GOOD.replace('preset = "llama-3.1-8b"', "").replace("[model]\n", "[model.architecture]\n"
        "vocab_size = 32000\nhidden_size = 2048\nintermediate_size = 5632\nnum_hidden_layers = 22\n"
        "num_attention_heads = 32\nnum_key_value_heads = 4\n")
    s = load_scenario(write(tmp_path, text))
    assert s.model.spec.total_parameters == 1_100_048_384  # TinyLlama 1.1B's shape
    assert load_scenario(save_scenario(s, tmp_path / "again.toml")) == s


def test_config_path_is_relative_to_the_scenario_file(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(
        '{"model_type": "llama", "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,'
        ' "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8}')
    text = GOOD.replace('preset = "llama-3.1-8b"', 'config = "m/config.json"')
    s = load_scenario(write(tmp_path, text))
    assert s.model.spec.total_parameters == 8_030_261_248
    assert "config = \"m/config.json\"" in dumps(s)


@pytest.mark.parametrize("change, message", [
    (("batch_size = 1", "batch_size = 0"), "workload.batch_size: Input should be greater than or equal to 1"),
    (("batch_size = 1", 'batch_size = "four"'), "workload.batch_size"),
    (("mode = \"inference\"", "mode = \"pretrain\""), "workload.mode: Input should be 'inference', 'lora', 'qlora' or 'full'"),
    (("weights = \"BF16\"", "weights = \"q4km\""), "workload.weights: unknown weight format 'q4km'; allowed:"),
    (("flash_attention = true", "flash_attention = true\nflash = 1"), "optimizations.flash: unknown key; allowed keys:"),
    (('preset = "llama-3.1-8b"', 'preset = "llama-3.1-8"'), "did you mean 'llama-3.1-8b'"),
    (('"rtx-4090",', '"rtx4090",'), "hardware.gpus: unknown GPU 'rtx4090' (did you mean 'rtx-4090'?)"),
    (("schema = 1", "schema = 2"), "schema: Value error, schema 2 is not supported"),
    (("context_length = 8192", "context_length = nan"), "workload.context_length: nan is not a finite number"),
    (("context_length = 8192", "context_length = 1_000_000_000_000_000_000_000_000_000_000"), "workload.context_length"),
    (("[hardware]", "[hardwar]"), "hardwar: unknown key; allowed keys: schema, name, model"),
])
def test_errors_name_the_key_and_what_is_allowed(tmp_path, change, message):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(str(path))
    assert message.replace("Value error, ", "") in str(info.value)


def test_unreadable_inputs_are_errors_not_tracebacks(tmp_path):
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(write(tmp_path, GOOD[: len(GOOD) // 2] + "[wor"))
    (tmp_path / "bin.toml").write_bytes(b"schema = 1\n\xff\xfe")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(tmp_path / "bin.toml")
    with pytest.raises(ScenarioError, match="is a directory"):
        load_scenario(tmp_path)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")


def test_save_is_atomic_and_keeps_a_backup(tmp_path):
    path = tmp_path / "s.toml"
    save_scenario(make(context_length=4096), path)
    first = path.read_text()
    save_scenario(make(context_length=32768), path)
    assert (tmp_path / "s.toml.bak").read_text() == first
    assert load_scenario(path).workload.context_length == 32768
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_failed_save_reports_and_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "s.toml"
    save_scenario(make(context_length=4096), path)
    before = path.read_bytes()

    def full_disk(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(ScenarioError, match="No space left on device; the existing file is unchanged"):
        save_scenario(make(context_length=65536), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_the_readme_scenario_example_loads_and_shows_the_defaults():
    """The README says its example lists every key at its default: hold it to that."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Scenario files"):]
    example = section[section.index("```toml") + len("```toml"):]
    example = example[:example.index("```")]
    s = scenario_from_dict(tomllib.loads(example))
    defaults = default_scenario()
    assert s.workload == defaults.workload and s.optimizations == defaults.optimizations
    assert s.hardware == defaults.hardware  # the default GPU list, all of it
    # settings left to the runtime are shown commented out, with the value they usually take
    commented = set(re.findall(r"^# (\w+) = ", example, re.MULTILINE))
    doc = tomllib.loads(example)
    fields = set(type(defaults.optimizations).model_fields) | set(type(defaults.workload).model_fields)
    assert set(doc["optimizations"]) | set(doc["workload"]) | commented == fields
    assert all(getattr(defaults.optimizations, k, None) is None and getattr(defaults.workload, k, None) is None
               for k in commented)
