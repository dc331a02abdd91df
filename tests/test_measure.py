"""`vramtui measure`: the harness builds a model from the scenario's architecture (random weights, no
download) and runs it. These tests run a tiny model on the CPU; `make test-measure` installs the
extra (torch CPU build, transformers, peft) and runs them; `make test` leaves them out."""

from __future__ import annotations

import json

import pytest

from vramtui.cli import main

pytestmark = pytest.mark.measure

TINY = """schema = 1
[model.architecture]
vocab_size = 512
hidden_size = 64
intermediate_size = 128
num_hidden_layers = 2
num_attention_heads = 4
num_key_value_heads = 2
max_position_embeddings = 256
[workload]
context_length = 64
batch_size = 2
mode = "{mode}"
[optimizations]
gradient_checkpointing = {ckpt}
"""


@pytest.mark.parametrize("mode, ckpt", [("inference", "false"), ("lora", "true"), ("full", "false")])
def test_harness_runs_a_tiny_model_on_the_cpu(tmp_path, capsys, mode, ckpt):
    path = tmp_path / f"{mode}.toml"
    path.write_text(TINY.format(mode=mode, ckpt=ckpt))
    assert main(["measure", str(path), "--device", "cpu", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["device"] == "cpu" and doc["rss_growth"] > 0 and doc["seconds"] > 0
    assert doc["estimate"]["card"] > doc["estimate"]["allocated"] > 0
    assert (doc["estimate"]["components"]["optimizer_states"] > 0) == (mode != "inference")


def test_builds_exactly_the_counted_architecture():
    import torch
    import transformers

    from vramtui.core import presets
    from vramtui.measure import hf_config

    for model_id in ("tinyllama-1.1b", "qwen2.5-0.5b", "qwen3-0.6b"):
        spec = presets.model(model_id)
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(hf_config(spec, transformers))
        built = sum(p.numel() for p in model.parameters())
        assert built == spec.total_parameters, model_id


def test_without_a_gpu_it_says_so_and_exits_2(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same answer on a GPU machine
    path = tmp_path / "s.toml"
    path.write_text(TINY.format(mode="inference", ckpt="false"))
    assert main(["measure", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no GPU") and err.count("\n") == 1


def test_unsupported_setups_are_clear_errors(tmp_path, capsys):
    path = tmp_path / "q.toml"
    path.write_text('schema = 1\n[model]\npreset = "deepseek-v2-lite"\n')
    assert main(["measure", str(path), "--device", "cpu"]) == 2
    assert "measure supports" in capsys.readouterr().err


def test_the_gpu_grid_is_buildable():
    """scripts/measure_grid.py's scenarios all load and build on the meta device (what a GPU run needs)."""
    import importlib.util
    from pathlib import Path

    import torch
    import transformers

    from vramtui.core.io import scenario_from_dict
    from vramtui.measure import hf_config

    script = Path(__file__).resolve().parents[1] / "scripts" / "measure_grid.py"
    spec = importlib.util.spec_from_file_location("measure_grid", script)
    grid_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grid_module)
    scenarios = [scenario_from_dict(doc) for doc in grid_module.grid(quick=False)]
    assert len(scenarios) >= 30 and {s.workload.mode for s in scenarios} == {"inference", "lora", "full"}
    for model_spec in {s.model.spec.id: s.model.spec for s in scenarios}.values():
        with torch.device("meta"):
            built = transformers.AutoModelForCausalLM.from_config(hf_config(model_spec, transformers))
        assert sum(p.numel() for p in built.parameters()) == model_spec.total_parameters
    assert grid_module.gpu_preset("NVIDIA H100 80GB HBM3") == "h100-80gb"
    assert grid_module.gpu_preset("NVIDIA GeForce RTX 4090") == "rtx-4090"


def _tiny(tmp_path, **opts):
    from vramtui.core.io import load_scenario

    path = tmp_path / "t.toml"
    text = TINY.format(mode=opts.pop("mode", "full"), ckpt="false")
    work = {k: v for k, v in opts.items() if k in ("recipe",)}
    rest = {k: v for k, v in opts.items() if k not in work}
    text = text.replace("[optimizations]\n", "".join(f'{k} = "{v}"\n' for k, v in work.items()) + "[optimizations]\n")
    text += "".join(f'{k} = "{v}"\n' for k, v in rest.items())
    path.write_text(text)
    return load_scenario(path)


@pytest.mark.parametrize(("recipe", "params", "master", "autocast"), [
    ("fp32", "float32", None, "off"), ("amp", "float32", None, "bf16"),
    ("bf16-mixed", "bfloat16", "float32", "off"), ("bf16-pure", "bfloat16", None, "off")])
def test_the_training_run_is_the_scenarios_recipe(tmp_path, recipe, params, master, autocast):
    """Issue 12: measure compared bf16-mixed estimates with a pure-bf16 run and amp with plain fp32."""
    import torch
    import transformers

    from vramtui.core.presets import gpu
    from vramtui.core.setup import Setup
    from vramtui.measure import Trainer, hf_config, training_plan

    s = _tiny(tmp_path, recipe=recipe)
    plan = training_plan(s, torch, "cpu")
    model = transformers.AutoModelForCausalLM.from_config(hf_config(s.model.spec, transformers),
                                                          dtype=getattr(torch, {"fp32": "float32", "bf16": "bfloat16"}[plan.param_dtype]))
    trainer = Trainer(torch, model, s, Setup(s, gpu(s.hardware.verdict_gpu)), plan)
    assert {str(p.dtype).removeprefix("torch.") for p in trainer.params} == {params}
    updated = trainer.optimizer.param_groups[0]["params"]
    assert {str(p.dtype).removeprefix("torch.") for p in updated} == {master or params}  # fp32 masters get the step
    assert plan.describe()["autocast"] == autocast
    before = [p.detach().clone() for p in trainer.params]
    trainer.run(torch.randint(0, 512, (2, 16)), steps=1)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.params, strict=True))  # the step reached the model


@pytest.mark.parametrize(("optimizer", "cls", "momentum"), [
    ("adamw", "AdamW", None), ("sgd", "SGD", 0), ("sgd-momentum", "SGD", 0.9), ("adafactor", "Adafactor", None)])
def test_the_training_run_uses_the_scenarios_optimizer(tmp_path, optimizer, cls, momentum):
    import torch
    import transformers

    from vramtui.core.presets import gpu
    from vramtui.core.setup import Setup
    from vramtui.measure import Trainer, hf_config, training_plan

    s = _tiny(tmp_path, optimizer=optimizer)
    plan = training_plan(s, torch, "cpu")
    model = transformers.AutoModelForCausalLM.from_config(hf_config(s.model.spec, transformers))
    trainer = Trainer(torch, model, s, Setup(s, gpu(s.hardware.verdict_gpu)), plan)
    assert type(trainer.optimizer).__name__ == cls
    if momentum is not None:
        assert trainer.optimizer.defaults["momentum"] == momentum


@pytest.mark.parametrize(("option", "needle"), [
    ({"optimizer": "adamw-8bit"}, "adamw-8bit"), ({"optimizer": "lion"}, "lion"), ({"loss": "chunked"}, "chunked")])
def test_what_cannot_run_here_is_refused_in_one_line_not_swapped(tmp_path, capsys, option, needle):
    s_path = tmp_path / "r.toml"
    key, value = next(iter(option.items()))
    s_path.write_text(TINY.format(mode="full", ckpt="false") + f'{key} = "{value}"\n')
    assert main(["measure", str(s_path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and needle in err and err.count("\n") == 1
