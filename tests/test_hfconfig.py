"""Hugging Face config import: each supported model_type gives the model's official parameter count."""

import json
import tomllib
from pathlib import Path

import pytest

from vramtui.cli import main
from vramtui.core.hfconfig import SUPPORTED, ConfigImportError, spec_from_config

DATA = Path(__file__).parent / "data" / "configs"
EXPECTED = tomllib.loads((DATA / "expected.toml").read_text())["configs"]


def test_every_supported_model_type_has_a_fixture():
    types = {json.loads((DATA / e["file"]).read_text())["model_type"] for e in EXPECTED}
    assert types == set(SUPPORTED)


@pytest.mark.parametrize("entry", EXPECTED, ids=[e["file"] for e in EXPECTED])
def test_config_gives_the_official_count(entry, capsys):
    # through the CLI, as a user would: `vramtui estimate --config config.json --json`
    assert main(["estimate", "--config", str(DATA / entry["file"]), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["parameters"]
    if entry["parameters_exact"]:
        assert got == entry["parameters"]
    else:  # only a rounded official figure exists (e.g. "125M"): within its rounding
        assert abs(got - entry["parameters"]) / entry["parameters"] < 0.03


@pytest.mark.parametrize("data, message", [
    ([1, 2], "must hold a JSON object"),
    ({"hidden_size": 8}, "no 'model_type'"),
    ({"model_type": "mamba"}, "model_type 'mamba' is not supported"),
    ({"model_type": "llama", "hidden_size": 4096}, "missing 'vocab_size'"),
    ({"model_type": "llama", "vocab_size": 10, "hidden_size": 4096, "intermediate_size": 8, "num_hidden_layers": 2,
      "num_attention_heads": 0}, "num_attention_heads"),
    ({"model_type": "llama", "vocab_size": 10, "hidden_size": 4095, "intermediate_size": 8, "num_hidden_layers": 2,
      "num_attention_heads": 32}, "not divisible by num_attention_heads"),
    ({"model_type": "llama", "vocab_size": 10, "hidden_size": 4096, "intermediate_size": 8, "num_hidden_layers": 2,
      "num_attention_heads": 32, "num_key_value_heads": 5}, "multiple of num_key_value_heads"),
    ({"model_type": "llama", "vocab_size": "many", "hidden_size": 4096}, "'vocab_size' must be a whole number"),
    ({"model_type": "llama", "vocab_size": 10, "hidden_size": 10**12, "intermediate_size": 8, "num_hidden_layers": 2,
      "num_attention_heads": 1}, "hidden_size"),
    ({"model_type": "gemma3"}, "no 'text_config'"),
])
def test_bad_configs_are_clear_errors(data, message):
    with pytest.raises(ConfigImportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        spec_from_config(data)


def test_bad_config_file_from_the_cli_exits_2(tmp_path, capsys):
    bad = tmp_path / "config.json"
    bad.write_text("{ not json")
    assert main(["estimate", "--config", str(bad)]) == 2
    assert "invalid JSON at line 1" in capsys.readouterr().err
