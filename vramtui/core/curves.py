"""Memory against context: the need of a scenario over a range of contexts, for the GPU screen's chart."""

from __future__ import annotations

from .gpuspec import GPUSpec
from .methods import estimate
from .scenario import Scenario

CHART_POINTS = 24


def context_points(top: int, n: int = CHART_POINTS, low: int = 512) -> list[int]:
    """``n`` contexts spaced evenly on a log scale from ``low`` to ``top`` (the model's window)."""
    top = max(top, low + 1)
    ratio = (top / low) ** (1 / (n - 1))
    return sorted({min(top, int(round(low * ratio**i))) for i in range(n)})


def need_by_context(s: Scenario, method: str, gpu: GPUSpec, n: int = CHART_POINTS) -> list[tuple[int, int]]:
    """(context, per-GPU need in bytes) on ``gpu``'s runtime defaults, up to the model's trained window."""
    out = []
    for ctx in context_points(s.model.spec.max_position_embeddings, n):
        w = s.workload.model_copy(update={"context_length": ctx})
        out.append((ctx, estimate(s.model_copy(update={"workload": w}), method, gpu).per_gpu_bytes))
    return out
