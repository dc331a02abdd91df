"""The records that replaced pydantic in the core: strict checks, the same messages, frozen values."""

import pytest

from vramtui.core.errors import describe
from vramtui.core.io import ScenarioError, scenario_from_dict
from vramtui.core.model import ModelSpec
from vramtui.core.record import ValidationError
from vramtui.core.scenario import LORA_TARGETS, Hardware, Optimizations, Scenario, Workload

DENSE = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
         "num_attention_heads": 32}


def first(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[tuple, str, str]:
    e = exc.value.errors()[0]
    return e["loc"], e["type"], e["msg"]


@pytest.mark.parametrize(("data", "loc", "kind", "msg"), [
    ({"batch_size": 0}, ("batch_size",), "greater_than_equal", "Input should be greater than or equal to 1"),
    ({"batch_size": True}, ("batch_size",), "int_type", "Input should be a valid integer"),
    ({"batch_size": 2.0}, ("batch_size",), "int_type", "Input should be a valid integer"),
    ({"batch_size": "4"}, ("batch_size",), "int_type", "Input should be a valid integer"),
    ({"gpu_memory_utilization": 0}, ("gpu_memory_utilization",), "greater_than", "Input should be greater than 0"),
    ({"gpu_memory_utilization": "0.9"}, ("gpu_memory_utilization",), "float_type", "Input should be a valid number"),
    ({"mode": "train"}, ("mode",), "literal_error", "Input should be 'inference', 'lora', 'qlora' or 'full'"),
    ({"runtime": "tgi"}, ("runtime",), "value_error", "Value error, unknown runtime 'tgi'"),
    ({"mode": "inference", "batch": 2}, ("batch",), "extra_forbidden", "Extra inputs are not permitted"),
])
def test_a_bad_workload_value_is_worded_as_before(data, loc, kind, msg):
    with pytest.raises(ValidationError) as exc:
        Workload.model_validate(data)
    got_loc, got_kind, got_msg = first(exc)
    assert (got_loc, got_kind) == (loc, kind)
    assert got_msg.startswith(msg)


def test_a_file_names_the_key_path_and_what_is_allowed():
    with pytest.raises(ScenarioError, match=r"^workload.batch_size: Input should be greater than or equal to 1 \(got 0\)$"):
        scenario_from_dict({"model": {"preset": "llama-3.1-8b"}, "workload": {"batch_size": 0}})
    with pytest.raises(ScenarioError, match=r"^optimizations.flash: unknown key; allowed keys: flash_attention, "):
        scenario_from_dict({"model": {"preset": "llama-3.1-8b"}, "optimizations": {"flash": True}})
    with pytest.raises(ScenarioError, match=r"^model.architecture.num_hidden_layers: Field required$"):
        scenario_from_dict({"model": {"architecture": {k: v for k, v in DENSE.items() if k != "num_hidden_layers"}}})


def test_nested_errors_carry_the_whole_path():
    with pytest.raises(ValidationError) as exc:
        Scenario.model_validate({"model": {"spec": {**DENSE, "stored_layer_bytes": (1, "x") + (0,) * 30}}})
    assert first(exc)[:2] == (("model", "spec", "stored_layer_bytes", 1), "int_type")
    assert describe(exc.value).startswith("model.spec.stored_layer_bytes.1: Input should be a valid integer")


def test_model_checks_run_once_the_fields_are_valid():
    with pytest.raises(ValidationError, match="must be a multiple of num_key_value_heads"):
        ModelSpec(**DENSE, num_key_value_heads=5)
    with pytest.raises(ValidationError, match="selected 'h100-80gb' is not one of the compared gpus"):
        Hardware(gpus=("rtx-4090",), selected="h100-80gb")


def test_before_validators_normalise_and_after_validators_canonicalise():
    assert Optimizations(lora_targets=["all-linear"]).lora_targets == LORA_TARGETS
    assert Optimizations(lora_targets=["v_proj", "q_proj", "v_proj"]).lora_targets == ("v_proj", "q_proj")
    assert Workload(weights="Q4_K_M").weights == "q4_k_m"
    assert Workload(gpu_memory_utilization=1).gpu_memory_utilization == 1.0
    assert isinstance(Workload(gpu_memory_utilization=1).gpu_memory_utilization, float)


def test_records_are_frozen_values():
    w = Workload(batch_size=4)
    with pytest.raises(ValidationError, match="Instance is frozen"):
        w.batch_size = 8  # type: ignore[misc]
    assert w == Workload(batch_size=4) and hash(w) == hash(Workload(batch_size=4))
    assert w != Workload(batch_size=5)
    copy = w.model_copy(update={"batch_size": 8})
    assert (copy.batch_size, w.batch_size) == (8, 4)


def test_dump_and_validate_round_trip_with_the_alias():
    s = Scenario.model_validate({"model": {"spec": DENSE}, "workload": {"batch_size": 3}})
    dumped = s.model_dump(by_alias=True)
    assert dumped["schema"] == 1 and "schema_" not in dumped
    assert dumped["workload"]["batch_size"] == 3 and isinstance(dumped["model"]["spec"], dict)
    assert Scenario.model_validate(dumped) == s
    assert s.workload.model_dump(exclude_defaults=True) == {"batch_size": 3}
    assert "gpu_memory_utilization" not in s.workload.model_dump(exclude_none=True)
