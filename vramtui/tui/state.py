"""What every view renders: one scenario and everything the core says about it.

The App computes a ``Result`` once per scenario (or method) change; views only read it.
"""

from __future__ import annotations

from functools import cached_property

from ..core import presets
from ..core.curves import need_by_context
from ..core.estimate import Estimate
from ..core.fit import GPUFit, fit_grid
from ..core.methods import METHOD_IDS, estimate
from ..core.plan import Plan, PlanError, plan
from ..core.scenario import Scenario
from ..core.setup import Setup


class Result:
    """Read-only once made (views never change it); a plain class, as a frozen dataclass took ~1 ms of
    start-up to build. What a view asks for first (the grid, a plan, the chart's curve) is made then."""

    def __init__(self, scenario: Scenario, method: str, precise: Estimate, guide: Estimate,
                 defaults: dict[str, tuple[object, str]]) -> None:
        self.scenario = scenario
        self.method = method
        self.precise = precise
        self.guide = guide
        # settings the scenario may leave to the runtime: the value in force on the verdict GPU, and why
        self.defaults = defaults
        self._plans: dict[str, Plan | str] = {}

    @property
    def current(self) -> Estimate:
        return self.precise if self.method == "precise" else self.guide

    @cached_property
    def grid(self) -> tuple[GPUFit, ...]:
        """Every GPU preset, in preset order: made when a view first reads it (the GPU screen), not on
        every edit of another screen, which shows only the verdict GPU's fit."""
        return tuple(fit_grid(self.scenario, self.method, tuple(presets.gpus()), est=self.current))

    @cached_property
    def by_gpu(self) -> dict[str, GPUFit]:
        return {f.gpu.id: f for f in self.grid}

    @cached_property
    def verdict(self) -> GPUFit:
        """The verdict GPU's row: the grid's, or a grid of that card alone (the same row, a test in
        tests/test_fit_cache.py holds it) while nothing has asked for the whole grid."""
        gpu = self.scenario.hardware.verdict_gpu
        if "grid" in self.__dict__:
            return self.by_gpu[gpu]
        return fit_grid(self.scenario, self.method, (gpu,), est=self.current)[0]

    @cached_property
    def context_curve(self) -> list[tuple[int, int]]:
        """Need against context on the verdict GPU (made when the chart is first shown)."""
        return need_by_context(self.scenario, self.method, presets.gpu(self.scenario.hardware.verdict_gpu))

    def plan_on(self, gpu_id: str) -> Plan | str:
        """The runtime's plan on this kind of GPU (made when first asked: only the GPU screen shows
        it), or why there is none."""
        if gpu_id not in self._plans:
            try:
                self._plans[gpu_id] = plan(self.scenario, [presets.gpu(gpu_id)])
            except PlanError as exc:
                self._plans[gpu_id] = str(exc)
        return self._plans[gpu_id]


def compute(scenario: Scenario, method: str) -> Result:
    gpu = presets.gpu(scenario.hardware.verdict_gpu)
    both = {m: estimate(scenario, m, gpu) for m in METHOD_IDS}
    setup = Setup(scenario, gpu)
    defaults: dict[str, tuple[object, str]] = {"flash_attention": setup.flash, "gradient_checkpointing": setup.checkpointing,
                                               "kbit_upcast": (setup.kbit_fp32, setup.upcast[1])}
    share = setup.runtime.memory_share(scenario, gpu)
    if share is not None:
        defaults["gpu_memory_utilization"] = share
    return Result(
        scenario=scenario,
        method=method,
        precise=both["precise"],
        guide=both["guide"],
        defaults=defaults,
    )
