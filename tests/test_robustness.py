"""Property-based robustness (hypothesis): random documents and bytes never raise anything but the
loader's own error; valid scenarios round-trip through save and load; the estimator stays finite and
non-negative for any valid scenario, trillion-parameter models and million-token contexts included."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vramtui.core import presets
from vramtui.core.fit import fit_grid
from vramtui.core.formats import KV_FORMATS, WEIGHT_FORMATS
from vramtui.core.hfconfig import ConfigImportError, spec_from_config
from vramtui.core.io import ScenarioError, load_scenario, save_scenario, scenario_from_dict
from vramtui.core.methods import estimate
from vramtui.core.model import ModelSpec
from vramtui.core.runtimes import RUNTIMES as RUNTIME_TABLE
from vramtui.core.scenario import LORA_TARGETS, MODES, OPTIMIZERS, RECIPES, RUNTIMES, Scenario

# (mode, runtime) pairs the runtime supports
MODE_RUNTIMES = [(m, r.id) for r in RUNTIME_TABLE.values() for m in r.modes]

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

MODEL_IDS = sorted(presets.models())
GPU_IDS = sorted(presets.gpus())

# values a hand-edited file might hold: right and wrong types, edge numbers, strings
junk = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**40), 10**40), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.lists(st.text(max_size=8), max_size=3), st.dictionaries(st.text(max_size=8), st.integers(), max_size=2),
)


def field_values(good):
    return st.one_of(good, junk)


workload_doc = st.fixed_dictionaries({}, optional={
    "mode": field_values(st.sampled_from(MODES)), "weights": field_values(st.sampled_from(sorted(WEIGHT_FORMATS))),
    "kv_cache": field_values(st.sampled_from(sorted(KV_FORMATS))), "batch_size": field_values(st.integers(1, 4096)),
    "context_length": field_values(st.integers(1, 1 << 20)), "runtime": field_values(st.sampled_from(RUNTIMES)),
    "recipe": field_values(st.sampled_from(RECIPES)), "gpu_memory_utilization": field_values(st.floats(0.05, 1.0)),
    "extra_key": junk,
})
optimizations_doc = st.fixed_dictionaries({}, optional={
    "flash_attention": field_values(st.booleans()), "gradient_checkpointing": field_values(st.booleans()),
    "optimizer": field_values(st.sampled_from(OPTIMIZERS)), "lora_rank": field_values(st.integers(1, 512)),
    "lora_targets": field_values(st.lists(st.sampled_from(LORA_TARGETS), min_size=1, max_size=7)),
    "zero_stage": field_values(st.integers(0, 3)), "cpu_offload": field_values(st.booleans()),
    "sequence_parallel": field_values(st.booleans()),
    "tensor_parallel": field_values(st.integers(1, 16)), "pipeline_parallel": field_values(st.integers(1, 8)),
    "data_parallel": field_values(st.integers(1, 64)),
})
model_doc = st.one_of(
    st.fixed_dictionaries({"preset": field_values(st.sampled_from(MODEL_IDS))}),
    st.fixed_dictionaries({"architecture": st.fixed_dictionaries({
        "vocab_size": field_values(st.integers(1, 300_000)), "hidden_size": field_values(st.integers(1, 20_000)),
        "intermediate_size": field_values(st.integers(0, 60_000)), "num_hidden_layers": field_values(st.integers(1, 200)),
        "num_attention_heads": field_values(st.integers(1, 128))})}),
    junk,
)
scenario_doc = st.fixed_dictionaries({"model": model_doc}, optional={
    "schema": field_values(st.just(1)), "name": field_values(st.text(max_size=30)),
    "workload": field_values(workload_doc), "optimizations": field_values(optimizations_doc),
    "hardware": field_values(st.fixed_dictionaries({"gpus": field_values(st.lists(st.sampled_from(GPU_IDS), min_size=1, max_size=5))})),
})


@SETTINGS
@given(scenario_doc)
def test_random_documents_load_or_raise_the_loaders_error(doc):
    try:
        s = scenario_from_dict(doc)
    except ScenarioError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(s, Scenario)
    _check_estimate(s)


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_loader(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "s.toml"
    path.write_bytes(data)
    try:
        load_scenario(path)
    except ScenarioError:
        pass


@SETTINGS
@given(scenario_doc)
def test_valid_scenarios_round_trip_through_save_and_load(tmp_path_factory, doc):
    try:
        s = scenario_from_dict(doc)
    except ScenarioError:
        return
    path = save_scenario(s, tmp_path_factory.mktemp("rt") / "s.toml")
    assert load_scenario(path) == s


def _check_estimate(s: Scenario) -> None:
    for method in ("precise", "guide"):
        e = estimate(s, method)
        for v in (*e.per_gpu.values(), e.total_bytes):
            assert isinstance(v, int) and v >= 0
        assert sum(e.components.values()) == e.total_bytes


huge_models = st.builds(
    lambda h, layers, heads, kv, vocab, experts: ModelSpec(
        vocab_size=vocab, hidden_size=h * heads, intermediate_size=4 * h * heads, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv if heads % kv == 0 else heads,
        **({"num_experts": experts, "num_experts_per_tok": 2, "moe_intermediate_size": 2 * h * heads} if experts else {})),
    st.sampled_from([64, 128, 256]), st.integers(1, 400), st.sampled_from([8, 64, 128, 256]),
    st.sampled_from([1, 8, 16]), st.integers(1000, 1_000_000), st.sampled_from([0, 8, 256]),
)


@SETTINGS
@given(huge_models, st.integers(1, 1 << 24), st.integers(1, 1 << 16), st.sampled_from(MODE_RUNTIMES), st.booleans())
def test_estimator_stays_finite_for_huge_models_and_contexts(spec, context, batch, mode_runtime, flash):
    mode, runtime = mode_runtime
    base = scenario_from_dict({"model": {"preset": "llama-3.1-8b"}})
    weights = "nf4-dq" if mode == "qlora" else "bf16"
    s = base.model_copy(update={"model": base.model.model_copy(update={"spec": spec})}).replace(
        "workload", mode=mode, weights=weights, context_length=context, batch_size=batch, runtime=runtime)
    s = s.replace("optimizations", flash_attention=flash)
    _check_estimate(s)
    for f in fit_grid(s, gpu_ids=("rtx-4090", "h200")):
        assert math.isfinite(f.tokens_per_s or 0) and f.max_context >= 0 and f.max_batch >= 0


def test_a_trillion_parameter_model_at_a_million_tokens():
    spec = ModelSpec(vocab_size=160_000, hidden_size=16384, intermediate_size=4096, num_hidden_layers=128,
                     num_attention_heads=128, num_key_value_heads=8, num_experts=384, num_experts_per_tok=8,
                     moe_intermediate_size=4096)
    assert spec.total_parameters > 10**12
    s = scenario_from_dict({"model": {"architecture": spec.model_dump(exclude_defaults=True)},
                            "workload": {"context_length": 1 << 20, "batch_size": 64}})
    _check_estimate(s)


@SETTINGS
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
                    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=6)),
                    max_leaves=20),
       st.sampled_from(["llama", "qwen2", "gemma3", "deepseek_v3", "gpt_oss", "falcon", "opt", "gpt2", "phi", None]))
def test_random_config_json_only_raises_the_import_error(data, model_type):
    if isinstance(data, dict) and model_type:
        data = {**data, "model_type": model_type}
    try:
        spec_from_config(json.loads(json.dumps(data, allow_nan=True)))
    except ConfigImportError as exc:
        assert str(exc)


def test_nothing_runs_from_data():
    """Presets, scenarios and configs are parsed as data: no eval/exec/pickle/dynamic imports in the package."""
    package = Path(__file__).resolve().parents[1] / "vramtui"
    # builtins only: `model.eval()` (torch train/eval mode) is a method, not code from data
    pattern = re.compile(r"(?<![.\w])(eval|exec)\(|\bpickle\b|\bmarshal\b|__import__\(|import_module\(|yaml\.load\(")
    offenders = [f"{p.name}:{i}" for p in package.rglob("*.py") for i, line in enumerate(p.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []

