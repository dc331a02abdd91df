"""A local model folder: config.json and the safetensors headers, nothing else read."""

from __future__ import annotations

import json
import math

from vramtui.cli import main

from . import hub_models
from .hub_server import safetensors_file


def test_a_folder_gives_the_checkpoints_exact_bytes(tmp_path, capsys):
    cfg, tensors = hub_models.qwen25_gptq()
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    half = len(tensors) // 2  # two shards, as large checkpoints come
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(safetensors_file(tensors[:half]))
    (tmp_path / "model-00002-of-00002.safetensors").write_bytes(safetensors_file(tensors[half:]))
    assert main(["estimate", "--model", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    size = {"F16": 2, "I32": 4}
    assert doc["per_gpu_components"]["weights"] == sum(math.prod(s) * size[d] for _, d, s in tensors)
    assert doc["model_source"] == {"kind": "folder", "ref": str(tmp_path), "stored_format": "gptq-int4"}


def test_a_folder_without_a_checkpoint_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps(hub_models.qwen3_bf16()[0]))
    assert main(["estimate", "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no *.safetensors" in err


def test_a_name_that_is_nothing_known_names_the_closest_preset(capsys):
    assert main(["estimate", "--model", "lama-3.1-8b"]) == 2
    err = capsys.readouterr().err
    assert "llama-3.1-8b" in err and err.count("\n") == 1
