"""GGUF files as the model: a local file and a file in a Hub repo read by range requests, through the
CLI and the plan, with the file's own tensor bytes."""

from __future__ import annotations

import json

from tests.gguf_files import write_model
from vramtui.cli import main
from vramtui.core import presets
from vramtui.core.sources.gguf_file import read_gguf

from .test_hub_source import hub  # noqa: F401  (the local Hub fixture)


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_local_gguf_runs_on_llamacpp_with_its_own_bytes(tmp_path, capsys):
    path = tmp_path / "Llama-3.1-8B-Q4_K_M.gguf"
    write_model(path, presets.model("llama-3.1-8b"), "llama", "q4_k_m")
    stored = read_gguf(path).spec
    code, out, _ = run(capsys, "estimate", "--model", str(path), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["model_source"]["kind"] == "gguf" and doc["model_source"]["stored_format"] == "q4_k_m"
    # llama.cpp keeps the token embeddings on the host: the GPU holds the file's other tensors
    assert doc["per_gpu_components"]["weights"] == stored.stored_bytes - stored.stored_token_embd_bytes
    code, out, _ = run(capsys, "plan", "--model", str(path), "--gpus", "rtx-3060-12gb", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["runtime"] == "llama.cpp" and plan["gpu_layers"] == plan["total_layers"] == 33


def test_a_gguf_in_a_hub_repo_is_read_by_its_header(hub, tmp_path, capsys):  # noqa: F811
    path = tmp_path / "model.gguf"
    write_model(path, presets.model("llama-3.1-8b"), "llama", "q4_k_m")
    hub.add_path("bartowski/Llama-3.1-8B-GGUF", "Llama-3.1-8B-Q4_K_M.gguf", path)
    code, out, err = run(capsys, "estimate", "--model", "bartowski/Llama-3.1-8B-GGUF/Llama-3.1-8B-Q4_K_M.gguf", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["parameters"] == 8_030_261_248 and doc["model_source"]["stored_format"] == "q4_k_m"
    reads = [r for r in hub.requests if r.startswith("GET") and r.endswith(tuple("0123456789"))]
    assert reads and all("bytes=0-" in r for r in reads)  # the header only, never the 4.9 GB of data


def test_a_bad_gguf_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf at all")
    code, out, err = run(capsys, "estimate", "--model", str(bad))
    assert code == 2 and out == "" and err.count("\n") == 1 and "broken.gguf" in err
    code, _, err = run(capsys, "estimate", "--model", str(tmp_path / "missing.gguf"))
    assert code == 2 and "no such GGUF file" in err


def test_a_vision_projector_joins_the_gguf_on_the_first_gpu(tmp_path, capsys):
    from tests.gguf_files import F32, Tensor, write_gguf

    model = tmp_path / "gemma-3-4b-it-Q4_K_M.gguf"
    write_model(model, presets.model("llama-3.1-8b"), "llama", "q4_k_m")
    proj = write_gguf(tmp_path / "mmproj-f16.gguf", "clip", {"clip.has_vision_encoder": True, "general.file_type": 1},
                      [Tensor(f"v.blk.{i}.ffn_up.weight", (1152, 4304), F32) for i in range(4)])
    base = json.loads(run(capsys, "plan", "--model", str(model), "--gpus", "2xrtx-4090", "--json")[1])
    code, out, err = run(capsys, "plan", "--model", str(model), "--mmproj", str(proj.path), "--gpus", "2xrtx-4090", "--json")
    assert code == 0, err
    plan = json.loads(out)
    first, second = (d["parts"]["weights"] for d in plan["devices"])
    assert first - base["devices"][0]["parts"]["weights"] == proj.tensor_bytes  # the projector, on GPU 0 only
    assert second == base["devices"][1]["parts"]["weights"]
    assert f"--mmproj {proj.path}" in plan["command"]
    code, _, err = run(capsys, "estimate", "--model", "llama-3.1-8b", "--mmproj", str(proj.path))
    assert code == 2 and "only with model.gguf" in err
