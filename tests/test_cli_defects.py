"""Issue 13's CLI defects, each reproduced first."""

from __future__ import annotations

import json

from vramtui.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_guide_does_not_divide_by_data_parallel_replicas(capsys):
    """Defect 8: 70B QLoRA at DP 8 showed the guide's per-GPU total divided by 8."""
    one = json.loads(run(capsys, "estimate", "--model", "llama-3.1-70b", "--mode", "qlora", "--method", "guide", "--json")[1])
    eight = json.loads(run(capsys, "estimate", "--model", "llama-3.1-70b", "--mode", "qlora", "--method", "guide",
                           "--dp", "8", "--json")[1])
    assert eight["per_gpu_bytes"] == one["per_gpu_bytes"] and eight["total_bytes"] == 8 * one["total_bytes"]


def test_version_prints_the_version(capsys):
    """Defect 10: --version said 'cannot read: No such file'."""
    code, out, err = run(capsys, "--version")
    assert code == 0 and out.startswith("vramtui ") and err == ""


def test_models_uses_the_same_matcher_as_the_model_screen(capsys):
    """Defect 10: `models "qwen 2.5 32b"` found nothing where the TUI found 2; `models moe` 1 where it found 13."""
    from vramtui.core import presets

    code, out, _ = run(capsys, "models", "qwen 2.5 32b", "--json")
    ids = {m["id"] for m in json.loads(out)["models"]}
    assert code == 0 and ids == {"qwen2.5-32b", "qwen2.5-coder-32b"}
    moe = {m["id"] for m in json.loads(run(capsys, "models", "moe", "--json")[1])["models"]}
    assert moe == {m.id for m in presets.models().values() if presets.matches(m, "moe")} and len(moe) > 10


def test_no_speed_for_a_setup_that_cannot_exist(capsys):
    """Defect 9: DeepSeek-V3 on an RTX 3060 showed '>8' GPUs and 6 tok/s."""
    code, out, _ = run(capsys, "fit", "--model", "deepseek-v3", "--gpus", "rtx-3060-12gb,h200", "--json")
    grid = {g["gpu"]: g for g in json.loads(out)["gpus"]}
    assert code == 0 and grid["rtx-3060-12gb"]["gpus_needed"] is None
    assert grid["rtx-3060-12gb"]["decode_tokens_per_s"] is None


def test_the_budget_is_for_all_the_gpus_needed_and_reads_2k(capsys):
    """Defect 11: the budget was per card, dropped '2k', and kept a 4090 that needs two cards."""
    code, out, _ = run(capsys, "fit", "--model", "llama-3.1-8b", "--context", "32k", "--budget", "$2,000", "--json",
                       "--gpus", "rtx-4090,rtx-3060-12gb,rtx-5090,h100-80gb")
    grid = {g["gpu"]: g for g in json.loads(out)["gpus"]}
    assert code == 0 and all(g["price_usd"] * g["gpus_needed"] <= 2000 for g in grid.values())
    assert "h100-80gb" not in grid and "rtx-5090" in grid
    needs_two = json.loads(run(capsys, "fit", "--model", "llama-3.1-70b", "--weights", "q4_k_m", "--runtime", "llama.cpp", "--gpus", "rtx-4090",
                               "--json")[1])["gpus"][0]
    assert needs_two["gpus_needed"] == 2
    code, out, _ = run(capsys, "fit", "--model", "llama-3.1-70b", "--weights", "q4_k_m", "--runtime", "llama.cpp", "--gpus", "rtx-4090",
                       "--budget", "2k", "--json")
    assert json.loads(out)["gpus"] == []  # two 4090s cost $3,200
    code, out, _ = run(capsys, "fit", "--model", "llama-3.1-8b", "--fits-only", "--vendor", "amd", "--json")
    assert all(g["fits"] and g["gpu"].startswith("mi") for g in json.loads(out)["gpus"])
    code, _, err = run(capsys, "fit", "--model", "llama-3.1-8b", "--budget", "lots")
    assert code == 2 and "--budget" in err


def test_json_repeats_the_inputs_what_the_runtime_decided_and_the_verdict_per_gpu(capsys):
    """Friction: a --json answer did not say what it answered, nor the verdict on each GPU named."""
    code, out, _ = run(capsys, "estimate", "--model", "llama-3.1-8b", "--runtime", "vllm", "--context", "32k",
                       "--gpus", "rtx-4090,h100-80gb", "--json")
    d = json.loads(out)
    assert code == 0
    assert d["scenario"]["model"]["preset"] == "llama-3.1-8b"
    assert d["scenario"]["workload"]["context_length"] == 32768 and d["scenario"]["workload"]["runtime"] == "vllm"
    assert d["resolved"]["gpu"] == "rtx-4090" and d["resolved"]["memory_share"]["value"] == 0.92
    assert d["scenario"]["optimizations"].get("flash_attention") is None  # left to the runtime ...
    assert d["resolved"]["flash_attention"]["value"] is True and d["resolved"]["flash_attention"]["why"]  # ... which said
    verdicts = {v["gpu"]: v for v in d["verdicts"]}
    assert set(verdicts) == {"rtx-4090", "h100-80gb"}
    assert verdicts["rtx-4090"]["need_bytes"] == d["per_gpu_bytes"]  # the estimate is the verdict GPU's
    assert all(v["headroom_bytes"] == v["usable_bytes"] - v["need_bytes"] for v in verdicts.values())
    fit = json.loads(run(capsys, "fit", "--model", "llama-3.1-8b", "--json")[1])
    assert fit["scenario"]["model"]["preset"] == "llama-3.1-8b" and "resolved" in fit
