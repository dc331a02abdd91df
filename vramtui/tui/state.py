"""What every view renders: one scenario and everything the core says about it.

The App computes a ``Result`` once per scenario (or method) change; views only read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..core import presets
from ..core.estimate import Estimate, estimate
from ..core.fit import GPUFit, fit_grid
from ..core.scenario import Scenario


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    method: str
    precise: Estimate
    guide: Estimate
    grid: tuple[GPUFit, ...]  # every GPU preset, in preset order

    @property
    def current(self) -> Estimate:
        return self.precise if self.method == "precise" else self.guide

    @cached_property
    def by_gpu(self) -> dict[str, GPUFit]:
        return {f.gpu.id: f for f in self.grid}

    @property
    def verdict(self) -> GPUFit:
        return self.by_gpu[self.scenario.hardware.verdict_gpu]


def compute(scenario: Scenario, method: str) -> Result:
    both = {m: estimate(scenario, m) for m in ("precise", "guide")}
    return Result(
        scenario=scenario,
        method=method,
        precise=both["precise"],
        guide=both["guide"],
        grid=tuple(fit_grid(scenario, method, tuple(presets.gpus()), est=both[method])),
    )
