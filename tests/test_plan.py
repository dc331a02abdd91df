"""Plans: the layer split llama.cpp would make, servers' tensor-parallel size and flags, training's
GPU count and ZeRO stage, and the command that launches each, as a user reads them from the CLI."""

from __future__ import annotations

import json

import pytest

from vramtui.cli import main
from vramtui.core.plan import Host, plan
from vramtui.core.presets import gpu

from .builders import make


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_70b_q4km_on_one_4090_offloads_part_of_the_layers_and_one_more_would_not_fit(capsys):
    code, out, err = run(capsys, "plan", "--model", "llama-3.1-70b", "--weights", "q4_k_m", "--runtime", "llama.cpp",
                         "--gpus", "rtx-4090", "--json")
    doc = json.loads(out)
    assert code == 0 and err == ""
    assert doc["fits"] is True and 0 < doc["gpu_layers"] < doc["total_layers"] == 81
    dev = doc["devices"][0]
    assert dev["gpu"] == "rtx-4090" and dev["bytes"] <= dev["usable_bytes"]
    assert doc["host_bytes"] > 0 and f"-ngl {doc['gpu_layers']} " in doc["command"]
    assert any(f["flag"] == "-ngl" and f["value"] == str(doc["gpu_layers"]) for f in doc["flags"])
    # the edge: llama.cpp's -ngl N+1 overflows the card
    s = make("llama-3.1-70b", weights="q4_k_m", runtime="llama.cpp")
    over = plan(s, [gpu("rtx-4090")], gpu_layers=doc["gpu_layers"] + 1)
    assert not over.fits and over.devices[0].bytes > over.devices[0].usable_bytes
    assert "does not fit" in over.warnings[-1]


def test_two_unequal_gpus_split_by_memory_each_with_its_compute_buffer():
    p = plan(make("llama-3.1-70b", weights="q4_k_m", runtime="llama.cpp"), [gpu("rtx-3090"), gpu("rtx-3060-12gb")])
    big, small = p.devices
    assert big.layers > small.layers > 0  # 24 GiB holds about twice the layers of 12 GiB
    # both hold a compute buffer; the first also holds what op offload copies there from the host
    # (the output weight and the logits: the output layer stays in host RAM)
    assert big.parts["activations"] > small.parts["activations"] > 0
    assert all(d.fits for d in p.devices) and p.gpu_layers == big.layers + small.layers
    assert p.details["tensor_split"] == pytest.approx([2 / 3, 1 / 3], abs=0.01)


def test_a_given_tensor_split_and_gpu_layers_are_evaluated_as_given():
    s = make("llama-3.1-8b", weights="q4_k_m", runtime="llama.cpp")
    p = plan(s, [gpu("rtx-3090"), gpu("rtx-3090")], gpu_layers=20, tensor_split=[3, 1])
    assert p.gpu_layers == 20 and [d.layers for d in p.devices] == [15, 5]
    assert "--tensor-split 3,1" in p.command and "-ngl 20" in p.command


def test_a_host_too_small_for_the_cpu_layers_does_not_fit():
    s = make("llama-3.1-70b", weights="q4_k_m", runtime="llama.cpp")
    p = plan(s, [gpu("rtx-4090")], Host(memory_bytes=8 << 30))
    assert not p.fits and "host RAM" in p.warnings[0]


def test_moe_offers_experts_on_the_cpu_as_the_alternative():
    p = plan(make("mixtral-8x7b", weights="q4_k_m", runtime="llama.cpp"), [gpu("rtx-4090")])
    alt = p.details["moe_alternative"]
    assert p.gpu_layers < p.total_layers and alt["n_cpu_moe"] > 0
    assert f"--n-cpu-moe {alt['n_cpu_moe']}" in alt["command"] and f"-ngl {p.total_layers}" in alt["command"]


def test_ollama_plan_writes_a_modelfile_with_num_gpu():
    p = plan(make("llama-3.1-70b", weights="q4_k_m", runtime="ollama"), [gpu("rtx-4090")])
    assert f"PARAMETER num_gpu {p.gpu_layers}" in p.files["Modelfile"] and "ollama create" in p.command


def test_vllm_plan_prints_a_command_matching_its_numbers(capsys):
    code, out, _ = run(capsys, "plan", "--model", "llama-3.1-70b", "--runtime", "vllm", "--gpus", "h100-80gb",
                       "--context", "32k", "--batch", "2", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["fits"]
    tp = doc["tensor_parallel"]
    assert tp == len(doc["devices"]) > 1  # 141 GB of bf16 weights: not one 80 GB card
    assert doc["command"].startswith("vllm serve meta-llama/Llama-3.1-70B ")
    assert f"--tensor-parallel-size {tp}" in doc["command"] and "--max-model-len 32768" in doc["command"]
    assert doc["kv_capacity_tokens"] >= 2 * 32768 and doc["concurrent_sequences"] >= 2
    # a box with half as many of these cards cannot hold two 32K sequences
    smaller = plan(make("llama-3.1-70b", runtime="vllm", context_length=32768, batch_size=2), [gpu("h100-80gb")] * (tp // 2))
    assert not smaller.fits and "KV room for" in smaller.warnings[-1]


def test_sglang_plan_uses_its_own_flags():
    p = plan(make("qwen2.5-7b", runtime="sglang"), [gpu("l40s")])
    assert p.command.startswith("python -m sglang.launch_server --model-path Qwen/Qwen2.5-7B")
    assert f"--mem-fraction-static {p.details['memory_share']:g}" in p.command and "--tp 1" in p.command


def test_training_plan_finds_the_fewest_gpus_and_writes_peft_trl_and_deepspeed():
    s = make("llama-3.1-8b", mode="full", gradient_checkpointing=True, context_length=2048)
    one = plan(s, [gpu("a100-40gb")])  # one card holds it once the optimizer states go to host RAM
    assert one.fits and one.details == {"data_parallel": 1, "zero_stage": 0, "cpu_offload": True}
    assert '"offload_optimizer"' in one.files["ds_config.json"] and one.host_bytes > 0
    many = plan(s, [gpu("rtx-4090")])
    assert many.fits and many.details["data_parallel"] > 1 and many.details["zero_stage"] >= 1
    assert f"--num_processes {many.details['data_parallel']}" in many.command
    assert f'"stage": {many.details["zero_stage"]}' in many.files["ds_config.json"]
    assert 'deepspeed="ds_config.json"' in many.files["train.py"]
    qlora = plan(make("llama-3.1-8b", mode="qlora", weights="nf4-dq", context_length=2048), [gpu("rtx-4090")])
    assert "BitsAndBytesConfig(load_in_4bit=True" in qlora.files["train.py"] and "LoraConfig(" in qlora.files["train.py"]
    assert "gradient_checkpointing=True" in qlora.files["train.py"] and "ds_config.json" not in qlora.files


def test_plan_table_names_the_split_and_the_command(capsys):
    code, out, _ = run(capsys, "plan", "--model", "llama-3.1-70b", "--weights", "q4_k_m", "--runtime", "llama.cpp",
                       "--gpus", "rtx-3090,rtx-3060-12gb")
    assert code == 0 and "layers on 2 GPUs" in out and "host RAM:" in out and "llama-server " in out
    assert "  -ngl " in out and "# " in out  # each flag with the plan number it comes from


@pytest.mark.parametrize(("args", "needle"), [
    (["--gpus", "rtx-9999"], "rtx-9999"),
    (["--gpus", "0xrtx-4090"], "--gpus"),
    (["--runtime", "vllm", "--gpu-layers", "3"], "--gpu-layers"),
    (["--runtime", "llama.cpp", "--weights", "q4_k_m", "--gpus", "2xrtx-4090", "--tensor-split", "1"], "--tensor-split"),
    (["--host-ram", "lots"], "--host-ram"),
])
def test_bad_plan_input_is_one_line_and_exit_2(capsys, args, needle):
    code, out, err = run(capsys, "plan", "--model", "llama-3.1-8b", *args)
    assert code == 2 and out == "" and err.count("\n") == 1 and needle in err


def test_plan_on_this_machines_gpus_uses_their_free_memory(capsys, monkeypatch):
    """--gpus local reads NVML (here: a recorded RTX 4090) and plans on the memory still free."""
    from vramtui.core import local_gpus

    from .test_local_gpus import DATA, fake_nvml

    real = local_gpus.detect
    monkeypatch.setattr(local_gpus, "detect", lambda: real(nvml=fake_nvml("nvml_rtx4090.json"),
                                                            meminfo=DATA / "meminfo_linux.txt"))
    code, out, _ = run(capsys, "plan", "--model", "llama-3.1-70b", "--weights", "q4_k_m", "--runtime", "llama.cpp",
                       "--gpus", "local", "--json")
    doc = json.loads(out)
    machine = local_gpus.detect()
    assert code == 0 and doc["devices"][0]["gpu"] == "local-0"
    assert doc["devices"][0]["usable_bytes"] == machine.gpus[0].free_bytes // (1 << 20) << 20
    assert 0 < doc["gpu_layers"] < doc["total_layers"]


def test_plan_with_no_gpu_here_says_what_it_tried_and_exits_2(capsys, monkeypatch):
    from vramtui.core import local_gpus

    def missing(argv):
        raise FileNotFoundError(argv[0])

    real = local_gpus.detect
    monkeypatch.setattr(local_gpus, "detect", lambda: real(nvml=None, run=missing, system="Linux", machine="x86_64"))
    monkeypatch.setitem(__import__("sys").modules, "pynvml", None)  # nvidia-ml-py not installed
    code, out, err = run(capsys, "plan", "--model", "llama-3.1-8b", "--gpus", "local")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "no GPU found" in err and "NVML" in err and "rocm-smi" in err and "Traceback" not in err


def test_published_partial_offloads_put_the_same_bytes_on_the_gpus_and_the_host():
    """Each log's own -ngl split, rebuilt by the planner: weights and KV per side within 1 %."""
    from vramtui.core.validation import load_points, validate

    ids = {p.id for p in load_points() if p.gpu_layers is not None}
    checked = 0
    for r in validate("precise"):
        if r.point.id not in ids:
            continue
        for c in r.comparisons:
            if c.measure in ("gpu_weights_mib", "gpu_kv_cache_mib", "host_kv_cache_mib"):
                assert abs(c.error) < 0.01, (r.point.id, c.measure, c.error)
                checked += 1
    assert len(ids) >= 8 and checked >= 20


def test_a_draft_model_adds_its_weights_and_cache_on_the_first_gpu(capsys):
    code, out, _ = run(capsys, "estimate", "--model", "llama-3.1-70b", "--weights", "q4_k_m", "--runtime", "llama.cpp",
                       "--draft", "llama-3.2-1b", "--json")
    with_draft = json.loads(out)
    base = json.loads(run(capsys, "estimate", "--model", "llama-3.1-70b", "--weights", "q4_k_m", "--runtime",
                          "llama.cpp", "--json")[1])
    assert code == 0 and with_draft["model_source"]["draft"] == "llama-3.2-1b"
    assert with_draft["per_gpu_components"]["weights"] > base["per_gpu_components"]["weights"]
    assert with_draft["per_gpu_components"]["kv_cache"] > base["per_gpu_components"]["kv_cache"]
    s = make("llama-3.1-70b", weights="q4_k_m", runtime="llama.cpp")
    plain = plan(s, [gpu("rtx-4090")] * 2, gpu_layers=81)
    from vramtui.core.io import scenario_from_dict, scenario_to_dict

    doc = scenario_to_dict(s)
    doc["model"]["draft"] = "llama-3.2-1b"
    drafted = plan(scenario_from_dict(doc), [gpu("rtx-4090")] * 2, gpu_layers=81)
    extra = drafted.devices[0].parts["weights"] + drafted.devices[0].parts["kv_cache"] - \
        plain.devices[0].parts["weights"] - plain.devices[0].parts["kv_cache"]
    assert extra > 0 and drafted.devices[1].parts == plain.devices[1].parts and "-md llama-3.2-1b" in drafted.command
