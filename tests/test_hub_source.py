"""Hub repos through the real huggingface_hub client against a local server that answers like the Hub
(tests/hub_server.py): exact parameters and bytes from the safetensors headers, offline after a first
read, gated and missing repos as one line."""

from __future__ import annotations

import json
import math
import re

import pytest

from vramtui.cli import main
from vramtui.core import presets
from vramtui.core.formats import weight_format

from . import hub_models
from .hub_server import FakeHub


@pytest.fixture
def hub(httpserver, monkeypatch, tmp_path):
    fake = FakeHub()
    for repo, (cfg, tensors) in {"Qwen/Qwen3-0.6B": hub_models.qwen3_bf16(), "Qwen/Qwen3-8B-FP8": hub_models.qwen3_fp8(),
                                 "Qwen/Qwen2.5-0.5B-Instruct-GPTQ-Int4": hub_models.qwen25_gptq()}.items():
        fake.add(repo, cfg, tensors)
    cfg, tensors, fake.vision_params = hub_models.gemma3_multimodal()
    fake.add("google/gemma-3-4b-it", cfg, tensors)
    fake.add("meta-llama/Llama-3.1-8B-Gated", *hub_models.qwen3_bf16())
    fake.gated.add("meta-llama/Llama-3.1-8B-Gated")
    httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(fake.handle)
    monkeypatch.setenv("HF_ENDPOINT", httpserver.url_for("").rstrip("/"))
    monkeypatch.setenv("VRAMTUI_HOME", str(tmp_path))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    fake.tensors = {repo: t for repo, (_, t) in (("Qwen/Qwen3-0.6B", hub_models.qwen3_bf16()),
                                                 ("Qwen/Qwen3-8B-FP8", hub_models.qwen3_fp8()),
                                                 ("Qwen/Qwen2.5-0.5B-Instruct-GPTQ-Int4", hub_models.qwen25_gptq()))}
    fake.tensors["google/gemma-3-4b-it"] = tensors
    return fake


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


BYTES = {"F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "I32": 4}


def _bytes(tensors) -> int:
    return sum(math.prod(s) * BYTES[d] for _, d, s in tensors)


def test_a_bf16_repo_gives_its_exact_parameters_and_bytes(hub, capsys):
    code, out, err = run(capsys, "estimate", "--model", "Qwen/Qwen3-0.6B", "--json")
    doc = json.loads(out)
    assert code == 0 and err == ""
    exact = sum(math.prod(s) for _, _, s in hub.tensors["Qwen/Qwen3-0.6B"])
    assert doc["parameters"] == exact == presets.model("qwen3-0.6b").total_parameters
    assert doc["model_source"] == {"kind": "hub", "ref": "Qwen/Qwen3-0.6B", "revision": None, "stored_format": "bf16"}
    assert doc["per_gpu_components"]["weights"] == _bytes(hub.tensors["Qwen/Qwen3-0.6B"])
    weights_reads = [r for r in hub.requests if r.startswith("GET") and "model.safetensors" in r]
    assert weights_reads and all("bytes=0-" in r for r in weights_reads)  # headers by range, never the weights


def test_an_fp8_repo_counts_its_block_scales_and_picks_fp8(hub, capsys):
    code, out, _ = run(capsys, "estimate", "--model", "Qwen/Qwen3-8B-FP8", "--json")
    doc = json.loads(out)
    tensors = hub.tensors["Qwen/Qwen3-8B-FP8"]
    assert code == 0 and doc["model_source"]["stored_format"] == "fp8"
    assert doc["per_gpu_components"]["weights"] == _bytes(tensors)  # fp8 weights + fp32 scales + bf16 rest
    assert doc["parameters"] == sum(math.prod(s) for n, _, s in tensors if not n.endswith("scale_inv"))
    assert "FP8" in doc["why"]["weights"]


def test_a_gptq_repo_unpacks_its_int32_weights(hub, capsys):
    code, out, _ = run(capsys, "estimate", "--model", "Qwen/Qwen2.5-0.5B-Instruct-GPTQ-Int4", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["model_source"]["stored_format"] == "gptq-int4"
    assert doc["parameters"] == presets.model("qwen2.5-0.5b").total_parameters  # 8 weights per int32
    assert doc["per_gpu_components"]["weights"] == _bytes(hub.tensors["Qwen/Qwen2.5-0.5B-Instruct-GPTQ-Int4"])


def test_a_multimodal_repo_keeps_its_vision_tower(hub, capsys):
    code, out, _ = run(capsys, "estimate", "--model", "google/gemma-3-4b-it", "--json")
    doc = json.loads(out)
    text = presets.model("gemma-3-4b")
    assert code == 0
    assert doc["parameters"] == text.total_parameters - text.extra_parameters + hub.vision_params
    assert doc["per_gpu_components"]["weights"] == _bytes(hub.tensors["google/gemma-3-4b-it"])
    assert "vision" in doc["why"]["weights"]
    vision = [(n, d, s) for n, d, s in hub.tensors["google/gemma-3-4b-it"] if n.startswith(("vision_tower", "multi_modal"))]
    assert doc["extra_weights_per_gpu_bytes"] == _bytes(vision)  # its own line in the breakdown


def test_a_repo_read_once_works_offline(hub, capsys, monkeypatch):
    assert run(capsys, "estimate", "--model", "Qwen/Qwen3-0.6B", "--json")[0] == 0
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    code, out, _ = run(capsys, "estimate", "--model", "Qwen/Qwen3-0.6B", "--json")
    assert code == 0 and json.loads(out)["parameters"] > 0
    code, out, err = run(capsys, "estimate", "--model", "Qwen/Qwen3-8B-FP8")  # never read: not cached
    assert code == 2 and "cannot be reached" in err and "not cached" in err and err.count("\n") == 1


@pytest.mark.parametrize(("repo", "needle"), [
    ("meta-llama/Llama-3.1-8B-Gated", "gated"),
    ("nobody/no-such-model", "no such model"),
])
def test_gated_and_missing_repos_are_one_line_and_exit_2(hub, capsys, repo, needle):
    code, out, err = run(capsys, "estimate", "--model", repo)
    assert code == 2 and out == "" and err.count("\n") == 1 and needle in err and repo in err


def test_a_scenario_file_stores_the_hub_source(hub, tmp_path, capsys):
    from vramtui.core.io import load_scenario, save_scenario

    path = tmp_path / "s.toml"
    path.write_text('[model]\nhub = "Qwen/Qwen3-8B-FP8"\n[workload]\ncontext_length = 4096\n')
    s = load_scenario(path)
    assert s.model.hub == "Qwen/Qwen3-8B-FP8" and s.workload.weights == "fp8"
    save_scenario(s, tmp_path / "t.toml")
    text = (tmp_path / "t.toml").read_text()
    assert 'hub = "Qwen/Qwen3-8B-FP8"' in text and "architecture" not in text
    assert weight_format(load_scenario(tmp_path / "t.toml").workload.weights).id == "fp8"
