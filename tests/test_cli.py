"""The CLI contract of DESIGN.md: tables for people, one JSON object for scripts, exit 2 on bad input."""

import json
import subprocess
import sys

import pytest

from vramtui.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_estimate_json_acceptance(capsys):
    code, out, err = run(capsys, "estimate", "--model", "llama-3.1-8b", "--weights", "bf16", "--context", "8192", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["method"] == "precise"
    assert doc["parameters"] == 8_030_261_248
    assert doc["components"]["kv_cache"] == 1_073_741_824
    assert set(doc["components"]) == {"weights", "kv_cache", "activations", "gradients", "optimizer_states", "adapters", "overhead"}
    assert doc["total_bytes"] == sum(doc["components"].values())
    assert doc["per_gpu_bytes"] == doc["total_bytes"]


def test_estimate_table_shows_every_component(capsys):
    code, out, _ = run(capsys, "estimate", "--model", "mixtral-8x7b", "--weights", "Q4_K_M", "--context", "32k")
    assert code == 0
    assert "Mixtral 8x7B" in out and "32K ctx" in out
    for label in ("weights", "kv cache", "activations", "overhead", "per GPU"):
        assert label in out


def test_flags_override_the_scenario_file(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('schema = 1\n[model]\npreset = "qwen2.5-7b"\n[workload]\ncontext_length = 4096\n')
    _, out, _ = run(capsys, "estimate", str(path), "--context", "16k", "--json")
    spec_kv = 2 * 28 * 4 * 128 * 16384 * 2
    assert json.loads(out)["components"]["kv_cache"] == spec_kv


def test_qlora_flag_picks_an_nf4_base(capsys):
    _, out, _ = run(capsys, "estimate", "--mode", "qlora", "--json")
    doc = json.loads(out)
    assert doc["components"]["optimizer_states"] > 0
    assert doc["components"]["weights"] < 8e9


def test_guide_method(capsys):
    _, out, _ = run(capsys, "estimate", "--model", "guide-llama-7b", "--weights", "fp16", "--context", "2k",
                    "--no-flash-attention", "--method", "guide", "--json")
    assert round(json.loads(out)["total_bytes"] / 1e9, 1) == 18.4


def test_fit_json_and_sort(capsys):
    _, out, _ = run(capsys, "fit", "--gpus", "rtx-4090,rtx-3060-12gb,h100-80gb", "--sort", "price", "--json")
    rows = json.loads(out)["gpus"]
    assert [r["gpu"] for r in rows] == ["rtx-3060-12gb", "rtx-4090", "h100-80gb"]
    by = {r["gpu"]: r for r in rows}
    assert by["rtx-4090"]["fits"] and not by["rtx-3060-12gb"]["fits"]
    assert by["rtx-3060-12gb"]["gpus_needed"] == 2
    assert by["h100-80gb"]["max_context"] > by["rtx-4090"]["max_context"] > 8192


def test_vllm_reports_kv_capacity(capsys):
    _, out, _ = run(capsys, "fit", "--runtime", "vllm", "--gpus", "h100-80gb")
    assert "KV capacity" in out and "sequences of 8K" in out


def test_models_and_gpus_filter(capsys):
    _, out, _ = run(capsys, "models", "qwen3", "--json")
    ids = [m["id"] for m in json.loads(out)["models"]]
    assert "qwen3-8b" in ids and all("qwen3" in i for i in ids)
    _, out, _ = run(capsys, "gpus", "--vendor", "amd")
    assert "mi300x" in out and "rtx-4090" not in out


def test_import_config_writes_a_loadable_preset(tmp_path, capsys):
    cfg = tmp_path / "my-model" / "config.json"
    cfg.parent.mkdir()
    cfg.write_text(json.dumps({"model_type": "qwen2", "vocab_size": 152064, "hidden_size": 3584,
                               "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
                               "num_key_value_heads": 4, "max_position_embeddings": 32768}))
    out_file = tmp_path / "my.toml"
    code, out, _ = run(capsys, "import-config", str(cfg), "-o", str(out_file))
    assert code == 0 and "7,615,616,512" in out
    import tomllib

    from vramtui.core.model import ModelSpec

    entry = tomllib.loads(out_file.read_text())["models"][0]
    assert entry["id"] == "my-model" and ModelSpec(**entry).total_parameters == 7_615_616_512
    code, out, _ = run(capsys, "estimate", "--config", str(cfg), "--json")
    assert json.loads(out)["parameters"] == 7_615_616_512
    # an existing file is never replaced without asking
    before = out_file.read_text()
    code, _, err = run(capsys, "import-config", str(cfg), "-o", str(out_file), "--id", "other")
    assert code == 2 and "exists; add --force" in err and out_file.read_text() == before
    code, _, _ = run(capsys, "import-config", str(cfg), "-o", str(out_file), "--id", "other", "--force")
    assert code == 0 and "id = \"other\"" in out_file.read_text() and (tmp_path / "my.toml.bak").read_text() == before


@pytest.mark.parametrize("args, message", [
    (["estimate", "--model", "llama-3.1-8x"], "did you mean 'llama-3.1-8b'"),
    (["estimate", "--context", "lots"], "is not a token count"),
    (["estimate", "--batch", "0"], "must be at least 1"),
    (["estimate", "--weights", "q9"], "unknown weight format 'q9'"),
    (["estimate", "--gpus", "rtx-9090"], "unknown GPU 'rtx-9090'"),
    (["estimate", "--mode", "qlora", "--weights", "bf16"], "4-bit base"),
    (["estimate", "no-such-file.toml"], "cannot read"),
    (["fit", "--sort", "vibes"], "invalid choice"),
    (["import-config", "missing.json"], "missing.json"),
    (["a.toml", "b.toml"], "expected one scenario file"),
])
def test_bad_input_exits_2_with_one_line(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_installed_console_script_runs_as_a_process():
    proc = subprocess.run([sys.executable, "-m", "vramtui.cli", "estimate", "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["parameters"] == 8_030_261_248
    bad = subprocess.run([sys.executable, "-m", "vramtui.cli", "estimate", "--context", "-5"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1


def test_opening_a_bad_file_in_the_tui_exits_2_before_starting(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("schema = 1\n[model]\npreset = 'llama-3.1-8b'\n[workload]\ncontext_length = 0\n")
    code, out, err = run(capsys, str(bad))
    assert code == 2 and "workload.context_length" in err and err.count("\n") == 1


def test_sequence_parallel_flag_splits_the_norm_activations(capsys):
    """Korthikanti et al.'s Table 2: with t = 4, sequence parallelism saves 10 B x h x (1 - 1/4) per
    token per layer; Llama 3.1 8B at 8,192 tokens: 10 x 4096 x 0.75 x 8192 x 32 B."""
    args = ["estimate", "--model", "llama-3.1-8b", "--mode", "full", "--tp", "4", "--context", "8192", "--json"]
    _, plain, _ = run(capsys, *args)
    _, split, _ = run(capsys, *args, "--sequence-parallel")
    saved = [json.loads(doc)["saved_activations_per_gpu_bytes"] for doc in (plain, split)]
    assert saved[0] - saved[1] == 10 * 4096 * 3 // 4 * 8192 * 32
