"""Scenarios built the way users build them: a preset and a few changed fields."""

from __future__ import annotations

from vramtui.core import presets
from vramtui.core.io import default_scenario
from vramtui.core.scenario import ModelChoice, Scenario


def make(model: str = "llama-3.1-8b", **changes) -> Scenario:
    """A scenario for ``model`` with workload/optimizations fields overridden by name."""
    s = default_scenario().model_copy(update={"model": ModelChoice(preset=model, spec=presets.model(model))})
    work = {k: v for k, v in changes.items() if k in type(s.workload).model_fields}
    opts = {k: v for k, v in changes.items() if k in type(s.optimizations).model_fields}
    unknown = set(changes) - set(work) - set(opts)
    assert not unknown, f"unknown fields {unknown}"
    # one validation of the whole result: the runtime's rules judge the final combination, not each step
    return Scenario.model_validate({"model": s.model, "hardware": s.hardware,
                                    "workload": {**s.workload.model_dump(), **work},
                                    "optimizations": {**s.optimizations.model_dump(), **opts}})
