"""The estimation methods, registered by name: ``precise`` (default) and ``guide``.

Both take the scenario on one GPU, because some runtimes' behaviour depends on the card (vLLM's
batch defaults); without a GPU the scenario's verdict GPU is used.
"""

from __future__ import annotations

from collections.abc import Callable

from .estimate import Estimate
from .gpuspec import GPUSpec
from .guide import guide_estimate
from .precise import precise_estimate
from .presets import gpu as gpu_preset
from .scenario import Scenario
from .setup import Setup

METHODS: dict[str, Callable[[Setup], Estimate]] = {"precise": precise_estimate, "guide": guide_estimate}
METHOD_IDS: tuple[str, ...] = tuple(METHODS)


def estimate(scenario: Scenario, method: str = "precise", gpu: GPUSpec | None = None) -> Estimate:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {', '.join(METHOD_IDS)}")
    card = gpu if gpu is not None else gpu_preset(scenario.hardware.verdict_gpu)
    return METHODS[method](Setup(scenario, card))
